"""update-device, domif-setlink, domif-getlink, desc and metadata (virsh 9.0's cmdUpdateDevice,
cmdDomIfSetLink, cmdDomIfGetLink, cmdDesc and cmdMetadata; ``--edit`` is not offered)."""

from __future__ import annotations

from virtkit.cli.common import exclusive, lookup_domain, read_file
from virtkit.cli.framework import Cmd, CmdFailed, CommandDef, Ctl, specs_to_defs
from virtkit.cli.specs import GROUPS
from virtkit.constants import (
    DomainDeviceModifyFlags,
    DomainMetadataType,
    DomainModificationImpact,
    DomainXMLFlags,
)

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["COMMANDS"]

_LIVE = int(DomainModificationImpact.LIVE)
_CONFIG = int(DomainModificationImpact.CONFIG)
_FORCE = int(DomainDeviceModifyFlags.FORCE)
_INACTIVE = int(DomainXMLFlags.INACTIVE)


def _impact(ctl: Ctl, cmd: Cmd) -> int:
    exclusive(ctl, cmd, "current", "live")
    exclusive(ctl, cmd, "current", "config")
    return (_CONFIG if cmd.flag("config") else 0) | (_LIVE if cmd.flag("live") else 0)


def _no_edit(ctl: Ctl, cmd: Cmd) -> None:
    if cmd.flag("edit"):
        ctl.error("--edit is not supported by virtkit's virsh")
        raise CmdFailed


def cmd_update_device(ctl: Ctl, cmd: Cmd) -> bool:
    exclusive(ctl, cmd, "persistent", "current")
    flags = _impact(ctl, cmd) | (_CONFIG if cmd.flag("persistent") else 0)
    dom, _ = lookup_domain(ctl, cmd)
    path = ctl.opt_required(cmd, "file")
    if cmd.flag("persistent") and dom.is_active():
        flags |= _LIVE
    xml = read_file(ctl, path)
    if cmd.flag("force"):
        flags |= _FORCE
    with ctl.failing(f"Failed to update device from {path}"):
        dom.update_device(xml, flags)
    ctl.print_extra("Device updated successfully\n")
    return True


def _interfaces(xml: str) -> list[Any]:
    from lxml import etree

    return list(etree.fromstring(xml.encode()).iterfind("devices/interface"))


def cmd_domif_setlink(ctl: Ctl, cmd: Cmd) -> bool:
    from lxml import etree

    dom, _ = lookup_domain(ctl, cmd)
    iface = ctl.opt_required(cmd, "interface")
    state = ctl.opt_required(cmd, "state")
    if state not in ("up", "down"):
        ctl.error(f"invalid link state '{state}'")
        return False
    config = cmd.flag("config")
    flags = _CONFIG if config or not dom.is_active() else _LIVE
    nodes = _interfaces(dom.xml(_INACTIVE if config else 0))
    if not nodes:
        ctl.error("Failed to extract interface information or no interfaces found")
        return False
    found = None
    for node in nodes:
        el = node.find("mac")
        mac = el.get("address") if el is not None else None
        target = node.find("target")
        dev = target.get("dev") if target is not None else None
        if (mac and mac.lower() == iface.lower()) or (dev and dev.lower() == iface.lower()):
            found = node
            break
    if found is None:
        ctl.error(f"interface '{iface}' not found")
        return False
    link = found.find("link")
    if link is None:
        link = etree.SubElement(found, "link")
    link.set("state", state)
    xml = etree.tostring(found, encoding="unicode", with_tail=False)
    if cmd.flag("print-xml"):
        ctl.print(xml)
        return True
    with ctl.failing("Failed to update interface link state"):
        dom.update_device(xml, flags)
    ctl.print_extra("Device updated successfully\n")
    return True


def _normal_mac(text: str) -> str:
    parts = text.split(":")
    if len(parts) != 6:
        return ""
    try:
        return ":".join(f"{int(p, 16):02x}" for p in parts if len(p) <= 2 and p)
    except ValueError:
        return ""


def cmd_domif_getlink(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    iface = ctl.opt_required(cmd, "interface")
    mac = _normal_mac(iface)
    mac = mac if mac.count(":") == 5 else ""
    matches = []
    for node in _interfaces(dom.xml(_INACTIVE if cmd.flag("config") else 0)):
        el = node.find("mac")
        target = node.find("target")
        if (el is not None and mac and el.get("address") == mac) or (
                target is not None and target.get("dev") == iface):
            matches.append(node)
    if not matches:
        ctl.error(f"Interface (mac: {mac}) not found." if mac
                  else f"Interface (dev: {iface}) not found.")
        return False
    if len(matches) > 1:
        ctl.error("multiple matching interfaces found")
        return False
    link = matches[0].find("link")
    state = link.get("state") if link is not None else None
    ctl.print(f"{iface} {state or 'up'}")
    return True


def _description(xml: str, title: bool) -> str:
    """virshGetDomainDescription: the text of <title> or <description>, "" when absent."""
    from lxml import etree

    return etree.fromstring(xml.encode()).findtext("title" if title else "description") or ""


def cmd_desc(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _impact(ctl, cmd)
    _no_edit(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    title = cmd.flag("title")
    words = cmd.argv("new-desc")
    query = _INACTIVE if cmd.flag("config") else 0
    if words:
        kind = DomainMetadataType.TITLE if title else DomainMetadataType.DESCRIPTION
        what = "title" if title else "description"
        with ctl.failing(f"Failed to set new domain {what}"):
            dom.set_metadata(int(kind), " ".join(words), None, None, flags)
        ctl.print_extra(f"Domain {what} updated successfully")
        return True
    text = _description(dom.xml(query), title)
    if text:
        ctl.print(text)
    else:
        ctl.print_extra(f"No {'title' if title else 'description'} for domain: {dom.name}")
    return True


def cmd_metadata(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _impact(ctl, cmd)
    exclusive(ctl, cmd, "edit", "set")
    exclusive(ctl, cmd, "remove", "set")
    exclusive(ctl, cmd, "remove", "edit")
    _no_edit(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    uri = ctl.opt_required(cmd, "uri")
    key = ctl.opt_string(cmd, "key")
    new = ctl.opt_string(cmd, "set")
    element = int(DomainMetadataType.ELEMENT)
    if new is not None and not key:
        ctl.error("namespace key is required when modifying metadata")
        return False
    if new is not None or cmd.flag("remove"):
        dom.set_metadata(element, new, key, uri, flags)
        ctl.print_extra("Metadata removed\n" if cmd.flag("remove") else "Metadata modified\n")
        return True
    ctl.print(dom.metadata(element, uri, flags) + "\n")
    return True


# ---------------------------------------------------------------------------
# change-media (cmdChangeMedia, virshFindDisk with VIRSH_FIND_DISK_CHANGEABLE,
# virshUpdateDiskXML)
# ---------------------------------------------------------------------------


def _changeable_disk(ctl: Ctl, doc: str, path: str) -> Any:
    """virshFindDisk: the first CD-ROM or floppy (or disk without a device) whose target
    or source is ``path``, copied, without its backing store."""
    import copy

    from lxml import etree

    try:
        disks = etree.fromstring(doc.encode()).findall("devices/disk")
    except etree.XMLSyntaxError:
        disks = []
    if not disks:
        ctl.error("Failed to get disk information")
        raise CmdFailed
    for disk in disks:
        if disk.get("device") not in (None, "cdrom", "floppy"):
            continue
        source = disk.find("source")
        target = disk.find("target")
        values = [target.get("dev") if target is not None else None]
        if source is not None:
            values += [source.get(a) for a in ("file", "dev", "dir", "name")]
        if path in values:
            found = copy.deepcopy(disk)
            found.tail = None
            backing = found.find("backingStore")
            if backing is not None:
                _unlink(backing)
            return found
    ctl.error(f"No disk found whose source path or target is {path}")
    raise CmdFailed


def _unlink(el: Any) -> None:
    """xmlUnlinkNode: the element goes, the text around it stays."""
    parent, prev = el.getparent(), el.getprevious()
    tail = el.tail or ""
    if prev is not None:
        prev.tail = (prev.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(el)


def _update_disk_xml(ctl: Ctl, disk: Any, new_source: str | None, block: bool, target: str,
                     action: str) -> str | None:
    """virshUpdateDiskXML."""
    from lxml import etree

    if disk.get("device") not in ("cdrom", "floppy"):
        ctl.error(f"The disk device '{target}' is not removable")
        return None
    source, target_node = disk.find("source"), disk.find("target")
    indent = None  # the last text before <target>
    if target_node is not None:
        prev = target_node.getprevious()
        indent = prev.tail if prev is not None else disk.text
    if action == "eject":
        if source is None:
            ctl.error(f"The disk device '{target}' doesn't have media")
            return None
        block, new_source = False, None
    elif not new_source:
        ctl.error("New disk media source was not specified")
        return None
    policy = None
    if source is not None:
        path = next((source.get(a) for a in ("file", "dev", "dir", "pool", "name")
                     if source.get(a)), None)
        if path and action == "insert":
            ctl.error(f"The disk device '{target}' already has media")
            return None
        policy = source.get("startupPolicy")
        _unlink(source)
    disk.set("type", "block" if block else "file")
    if new_source:
        el = etree.Element("source")
        el.set("dev" if block else "file", new_source)
        if policy:
            el.set("startupPolicy", policy)
        el.tail = indent
        if target_node is not None:
            target_node.addprevious(el)
        else:
            disk.append(el)
    return str(etree.tostring(disk, encoding="unicode", with_tail=False))


def cmd_change_media(ctl: Ctl, cmd: Cmd) -> bool:
    eject, insert, update = cmd.flag("eject"), cmd.flag("insert"), cmd.flag("update")
    for a, b in (("eject", "insert"), ("eject", "update"), ("insert", "update"),
                 ("eject", "block")):
        exclusive(ctl, cmd, a, b)
    source = ctl.opt_string(cmd, "source")
    if update and not source:  # the docs: update without a source is eject
        update, eject = False, True
    action, message = "update", "Successfully updated media."
    if eject:
        action, message = "eject", "Successfully ejected media."
    elif insert:
        action, message = "insert", "Successfully inserted media."
    flags = _impact(ctl, cmd) | (_FORCE if cmd.flag("force") else 0)
    dom, _ = lookup_domain(ctl, cmd)
    path = ctl.opt_required(cmd, "path")
    doc = dom.xml(_INACTIVE if flags & _CONFIG else 0)
    xml = _update_disk_xml(ctl, _changeable_disk(ctl, doc, path), source, cmd.flag("block"),
                           path, action)
    if xml is None:
        return False
    if cmd.flag("print-xml"):
        ctl.print(xml)
        return True
    with ctl.failing(f"Failed to complete action {action} on media"):
        dom.update_device(xml, flags)
    ctl.print(message)
    return True


COMMANDS: dict[str, CommandDef] = {}
for _module, _cmds in ((m, c) for _, _, m, c in GROUPS if m == "domupdate"):
    COMMANDS.update(specs_to_defs(_cmds, {
        "update-device": cmd_update_device, "domif-setlink": cmd_domif_setlink,
        "change-media": cmd_change_media,
        "domif-getlink": cmd_domif_getlink, "desc": cmd_desc, "metadata": cmd_metadata,
    }))
