"""Device hot-plug commands: attach-device, attach-disk, attach-interface and their detach-*.

The XML attach-disk and attach-interface build, and the device XML detach-disk and
detach-interface pick out of the domain's, are byte for byte what virsh 9.0 writes.
"""

from __future__ import annotations

from virtkit.cli.common import exclusive, lookup_domain, read_file, requires
from virtkit.cli.dommonitor import xnodes, xstr
from virtkit.cli.framework import Cmd, CmdFailed, Ctl

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from lxml.etree import _Element

    from virtkit.handles import Domain

AFFECT_LIVE = 1
AFFECT_CONFIG = 2
XML_INACTIVE = 2

# virDomainNetType names (virsh rejects any other --type of attach-interface).
NET_TYPES = (
    "user",
    "ethernet",
    "vhostuser",
    "server",
    "client",
    "mcast",
    "network",
    "bridge",
    "internal",
    "direct",
    "hostdev",
    "udp",
    "vdpa",
    "null",
    "vds",
)


def _impact(ctl: Ctl, cmd: Cmd, persistent: bool = True) -> tuple[int, bool]:
    """The --persistent/--config/--live/--current checks: (flags, --current given)."""
    if persistent:
        exclusive(ctl, cmd, "persistent", "current")
    exclusive(ctl, cmd, "current", "live")
    exclusive(ctl, cmd, "current", "config")
    flags = 0
    if cmd.flag("config") or (persistent and cmd.flag("persistent")):
        flags |= AFFECT_CONFIG
    if cmd.flag("live"):
        flags |= AFFECT_LIVE
    return flags, cmd.flag("current")


def _persistent_live(cmd: Cmd, dom: Domain, flags: int) -> int:
    """--persistent on a running domain affects it live too."""
    if cmd.flag("persistent") and dom.is_active():
        flags |= AFFECT_LIVE
    return flags


# ---------------------------------------------------------------------------
# attach-device, detach-device, detach-device-alias
# ---------------------------------------------------------------------------


def cmd_attach_device(ctl: Ctl, cmd: Cmd) -> bool:
    flags, current = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    path = ctl.opt_required(cmd, "file")
    flags = _persistent_live(cmd, dom, flags)
    xml = read_file(ctl, path)
    with ctl.failing(f"Failed to attach device from {path}"):
        dom.attach_device(xml, flags, flags_api=current)
    ctl.print_extra("Device attached successfully\n")
    return True


def cmd_detach_device(ctl: Ctl, cmd: Cmd) -> bool:
    flags, current = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    flags = _persistent_live(cmd, dom, flags)
    path = ctl.opt_required(cmd, "file")
    xml = read_file(ctl, path)
    with ctl.failing(f"Failed to detach device from {path}"):
        dom.detach_device(xml, flags, flags_api=current)
    ctl.print_extra("Device detached successfully\n")
    return True


def cmd_detach_device_alias(ctl: Ctl, cmd: Cmd) -> bool:
    flags, _ = _impact(ctl, cmd, persistent=False)
    dom, _ = lookup_domain(ctl, cmd)
    alias = ctl.opt_required(cmd, "alias")
    with ctl.failing(f"Failed to detach device with alias {alias}"):
        dom.detach_device_alias(alias, flags)
    ctl.print_extra("Device detach request sent successfully\n")
    return True


# ---------------------------------------------------------------------------
# Addresses (virshAddressParse / virshAddressFormat)
# ---------------------------------------------------------------------------


def _strtoul(text: str, pos: int, base: int, limit: int) -> tuple[int, int] | None:
    """virStrToLong_uip/ullp at ``pos`` with an end pointer: (value, end) or None."""
    i = pos
    while i < len(text) and text[i] in " \t\n\r\f\v":
        i += 1
    if i < len(text) and text[i] in "+-":
        if text[i] == "-":
            return None
        i += 1
    digits = "0123456789abcdef"[:base]
    if (
        base == 16
        and text[i : i + 2].lower() == "0x"
        and text[i + 2 : i + 3].lower() in (set(digits) - {""})
    ):
        i += 2
    start = i
    while i < len(text) and text[i].lower() in digits:
        i += 1
    if i == start:
        return None
    value = int(text[start:i], base)
    return (value, i) if value <= limit else None


def parse_address(text: str, multifunction: bool = False) -> tuple[str, tuple[int, ...], bool]:
    """virshAddressParse: ("pci", (domain, bus, slot, function), multifunction) ...

    Raises ValueError when ``text`` does not parse.
    """
    kind, colon, _ = text.partition(":")
    if not colon:
        raise ValueError(text)
    shapes = {
        "pci": (16, 16, 16, 16),
        "sata": (10, 10, 10),
        "ide": (10, 10, 10),
        "scsi": (10, 10, 10),
        "ccw": (16, 16, 16),
        "usb": (10, 10),
    }
    if kind not in shapes:
        raise ValueError(text)
    pos = len(kind)
    values: list[int] = []
    for n, base in enumerate(shapes[kind]):
        pos += 1  # past the separator, whatever it is
        if pos > len(text):
            raise ValueError(text)
        unit = kind in ("sata", "ide", "scsi") and n == 2
        parsed = _strtoul(text, pos, base, 2**64 - 1 if unit else 2**32 - 1)
        if parsed is None:
            raise ValueError(text)
        value, pos = parsed
        values.append(value)
    return kind, tuple(values), multifunction and kind == "pci"


def format_address(kind: str, v: tuple[int, ...], multifunction: bool) -> str:
    """virshAddressFormat: one ``<address .../>`` line (without indentation)."""
    if kind == "pci":
        extra = " multifunction='on'" if multifunction else ""
        return (
            f"<address type='pci' domain='0x{v[0]:04x}' bus='0x{v[1]:02x}' "
            f"slot='0x{v[2]:02x}' function='0x{v[3]:x}'{extra}/>\n"
        )
    if kind in ("sata", "ide", "scsi"):
        return f"<address type='drive' controller='{v[0]}' bus='{v[1]}' unit='{v[2]}'/>\n"
    if kind == "ccw":
        return (
            f"<address type='ccw' cssid='0x{v[0]:02x}' ssid='0x{v[1]:01x}' devno='0x{v[2]:04x}'/>\n"
        )
    return f"<address type='usb' bus='{v[0]}' port='{v[1]}'/>\n"


def _element(name: str, attrs: str, children: list[str], indent: int) -> list[str]:
    """virXMLFormatElement: nothing, ``<name attrs/>`` or the element around its children."""
    pad = " " * indent
    if not attrs and not children:
        return []
    if not children:
        return [f"{pad}<{name}{attrs}/>\n"]
    return [f"{pad}<{name}{attrs}>\n", *children, f"{pad}</{name}>\n"]


def _esc(fmt: str, value: str | None) -> str:
    """virBufferEscapeString: nothing for an absent value."""
    from virtkit.conf.xmlutil import escape_attr

    return "" if value is None else fmt % escape_attr(value)


# ---------------------------------------------------------------------------
# attach-disk, detach-disk
# ---------------------------------------------------------------------------

_DISK_OPTS = (
    "source",
    "target",
    "driver",
    "subdriver",
    "type",
    "mode",
    "iothread",
    "cache",
    "io",
    "serial",
    "wwn",
    "address",
    "targetbus",
    "alias",
    "sourcetype",
    "source-protocol",
    "source-host-name",
    "source-host-transport",
    "source-host-socket",
)


def _valid_wwn(wwn: str) -> bool:
    body = wwn[2:] if wwn.startswith("0x") else wwn
    return len(body) == 16 and all(c in "0123456789abcdefABCDEF" for c in body)


def build_disk_xml(ctl: Ctl, cmd: Cmd) -> str:
    """cmdAttachDisk's XML (the checks and errors on the way are virsh's)."""
    import os
    import stat

    from virtkit.errors import VirtError

    o: dict[str, str | None] = {}
    for name in _DISK_OPTS:
        o[name] = cmd.raw(name) if name == "source" else ctl.opt_string(cmd, name)
    source, target, driver, protocol = o["source"], o["target"], o["driver"], o["source-protocol"]
    stype = o["sourcetype"]
    if stype is not None and stype not in ("", "file", "block", "network"):
        ctl.error(f"Unknown source type: '{stype}'")
        raise CmdFailed
    if not stype:
        if protocol:
            stype = "network"
        elif driver not in ("file", "tap") and source:
            try:
                stype = "block" if stat.S_ISBLK(os.stat(source).st_mode) else "file"
            except OSError:
                stype = "file"
        else:
            stype = "file"
    if (stype == "network") != bool(protocol):
        ctl.error("--source-protocol option requires --sourcetype network")
        raise CmdFailed
    mode = o["mode"]
    if mode and mode not in ("readonly", "shareable"):
        ctl.error(f"No support for {mode} in command 'attach-disk'")
        raise CmdFailed
    wwn = o["wwn"]
    if wwn and not _valid_wwn(wwn):
        raise VirtError(f"internal error: Malformed wwn: {wwn}", code=1)
    disk_attrs = f" type='{stype}'" + _esc(" device='%s'", o["type"])
    if cmd.flag("rawio"):
        disk_attrs += " rawio='yes'"
    driver_attrs = (
        _esc(" name='%s'", driver)
        + _esc(" type='%s'", o["subdriver"])
        + _esc(" iothread='%s'", o["iothread"])
        + _esc(" cache='%s'", o["cache"])
        + _esc(" io='%s'", o["io"])
    )
    children = _element("driver", driver_attrs, [], 2)
    source_children: list[str] = []
    if stype == "file":
        source_attrs = _esc(" file='%s'", source)
    elif stype == "block":
        source_attrs = _esc(" dev='%s'", source)
    else:
        source_attrs = _esc(" protocol='%s'", protocol) + _esc(" name='%s'", source)
        host_attrs = _esc(" transport='%s'", o["source-host-transport"]) + _esc(
            " socket='%s'", o["source-host-socket"]
        )
        host = o["source-host-name"]
        if host is not None:
            hname, colon, port = host.partition(":")
            host_attrs += _esc(" name='%s'", hname) + _esc(" port='%s'", port if colon else None)
        source_children = _element("host", host_attrs, [], 4)
    children += _element("source", source_attrs, source_children, 2)
    bus = o["targetbus"]
    children.append(f"  <target dev='{target}'" + (f" bus='{bus}'" if bus else "") + "/>\n")
    if mode:
        children.append(f"  <{mode}/>\n")
    if o["serial"]:
        children.append(f"  <serial>{o['serial']}</serial>\n")
    if o["alias"]:
        children.append(f"  <alias name='{o['alias']}'/>\n")
    if wwn:
        children.append(f"  <wwn>{wwn}</wwn>\n")
    straddr = o["address"]
    if straddr:
        children.append("  " + _disk_address(ctl, straddr, target or "", cmd.flag("multifunction")))
    return "".join(_element("disk", disk_attrs, children, 0))


def _disk_address(ctl: Ctl, straddr: str, target: str, multifunction: bool) -> str:
    """cmdAttachDiskFormatAddress: the address must suit the target's bus."""
    try:
        kind, values, multi = parse_address(straddr, multifunction)
    except ValueError:
        ctl.error("Invalid address.")
        raise CmdFailed from None
    if target.startswith("vd") and kind not in ("pci", "ccw"):
        ctl.error("expecting a pci:0000.00.00.00 or ccw:00.0.0000 address.")
        raise CmdFailed
    if target.startswith("sd") and kind not in ("scsi", "usb", "sata"):
        ctl.error("expecting a scsi:00.00.00 or usb:00.00 or sata:00.00.00 address.")
        raise CmdFailed
    if target.startswith("hd") and kind != "ide":
        ctl.error("expecting an ide:00.00.00 address.")
        raise CmdFailed
    return format_address(kind, values, multi)


def cmd_attach_disk(ctl: Ctl, cmd: Cmd) -> bool:
    flags, current = _impact(ctl, cmd)
    requires(ctl, cmd, "source-host-name", "source-protocol")
    requires(ctl, cmd, "source-host-transport", "source-protocol")
    requires(ctl, cmd, "source-host-socket", "source-protocol")
    requires(ctl, cmd, "source-host-socket", "source-host-transport")
    exclusive(ctl, cmd, "source-host-name", "source-host-socket")
    xml = build_disk_xml(ctl, cmd)
    if cmd.flag("print-xml"):
        ctl.print(xml)
        return True
    dom, _ = lookup_domain(ctl, cmd)
    flags = _persistent_live(cmd, dom, flags)
    with ctl.failing("Failed to attach disk"):
        dom.attach_device(xml, flags, flags_api=current)
    ctl.print_extra("Disk attached successfully\n")
    return True


def _domain_tree(xml: str) -> _Element:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.fromstring(xml.encode(), parser)


def node_to_string(el: _Element) -> str:
    """virXMLNodeToString as virsh prints it: libxml2's dump of the node, as it was."""
    from lxml import etree

    text: str = etree.tostring(el, encoding="unicode", with_tail=False)
    return text


def find_disk(ctl: Ctl, doc: str, path: str) -> _Element:
    """virshFindDisk: the first disk whose target or source is ``path`` (a copy)."""
    import copy

    try:
        root = _domain_tree(doc)
    except Exception:
        ctl.error("Failed to get disk information")
        raise CmdFailed from None
    disks = xnodes(root, "/domain/devices/disk")
    if not disks:
        ctl.error("Failed to get disk information")
        raise CmdFailed
    for disk in disks:
        source = disk.find("source")
        values = [xstr(disk, "./target/@dev")]
        if source is not None:
            values += [source.get(a) for a in ("file", "dev", "dir", "name")]
        if path in values:
            found = copy.deepcopy(disk)
            found.tail = None
            for child in found:
                if child.tag == "backingStore":
                    _remove_keeping_text(child)
                    break
            return found
    ctl.error(f"No disk found whose source path or target is {path}")
    raise CmdFailed


def _remove_keeping_text(child: _Element) -> None:
    """xmlUnlinkNode: the element goes, the text around it stays."""
    parent = child.getparent()
    assert parent is not None
    tail = child.tail or ""
    prev = child.getprevious()
    if prev is not None:
        prev.tail = (prev.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(child)


def cmd_detach_disk(ctl: Ctl, cmd: Cmd) -> bool:
    flags, current = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    target = ctl.opt_required(cmd, "target")
    doc = dom.xml(XML_INACTIVE if flags == AFFECT_CONFIG else 0)
    flags = _persistent_live(cmd, dom, flags)
    xml = node_to_string(find_disk(ctl, doc, target))
    if cmd.flag("print-xml"):
        ctl.print(xml)
        return True
    with ctl.failing("Failed to detach disk"):
        dom.detach_device(xml, flags, flags_api=current)
    ctl.print_extra("Disk detached successfully\n")
    return True


# ---------------------------------------------------------------------------
# attach-interface, detach-interface
# ---------------------------------------------------------------------------


def _rate(ctl: Ctl, text: str) -> list[int]:
    """virshParseRateStr: average,peak,burst,floor (missing fields are 0)."""
    from virtkit.cli.framework import parse_c_integer

    fields = text.split(",")
    if len(fields) > 4:
        ctl.error(f"Rate string '{text}' has too many fields")
        raise CmdFailed
    values = [0, 0, 0, 0]
    for i, (field, name) in enumerate(
        zip(fields, ("average", "peak", "burst", "floor"), strict=False)
    ):
        if not field:
            continue
        number = parse_c_integer(field)
        if number is None or number < 0 or number > 2**64 - 1:
            ctl.error(f"field '{name}' is malformed")
            raise CmdFailed
        values[i] = number
    return values


def build_interface_xml(ctl: Ctl, cmd: Cmd) -> str:
    """cmdAttachInterface's XML (the checks and errors on the way are virsh's)."""
    names = (
        "type",
        "source",
        "target",
        "mac",
        "script",
        "model",
        "alias",
        "inbound",
        "outbound",
        "source-mode",
    )
    o = {name: ctl.opt_string(cmd, name) for name in names}
    kind = o["type"] or ""
    source = o["source"] or ""
    if kind not in NET_TYPES:
        ctl.error(f"No support for {kind} in command 'attach-interface'")
        raise CmdFailed
    mode = o["source-mode"]
    if mode is not None and mode not in ("server", "client"):
        ctl.error(f"Invalid source mode: {mode}")
        raise CmdFailed
    inbound = outbound = None
    if o["inbound"] is not None:
        inbound = _rate(ctl, o["inbound"])
        if not inbound[0] and not inbound[3]:
            ctl.error("either inbound average or floor is mandatory")
            raise CmdFailed
    if o["outbound"] is not None:
        outbound = _rate(ctl, o["outbound"])
        if not outbound[0]:
            ctl.error("outbound average is mandatory")
            raise CmdFailed
        if outbound[3]:
            ctl.error("outbound floor is unsupported yet")
            raise CmdFailed
    lines = [f"<interface type='{kind}'" + (" managed='yes'>\n" if cmd.flag("managed") else ">\n")]
    if kind in ("network", "bridge"):
        lines.append(f"  <source {kind}='{source}'/>\n")
    elif kind == "direct":
        lines.append(f"  <source dev='{source}'/>\n")
    elif kind == "hostdev":
        try:
            address = format_address(*parse_address(f"pci:{source}"))
        except ValueError:
            ctl.error(f"cannot parse pci address '{source}' for network interface")
            raise CmdFailed from None
        lines += ["  <source>\n", f"    {address}", "  </source>\n"]
    elif kind == "vhostuser":
        if mode is None:
            ctl.error("source-mode is mandatory")
            raise CmdFailed
        lines.append(f"  <source type='unix' path='{source}' mode='{mode}'/>\n")
    else:
        ctl.error(f"No support for {kind} in command 'attach-interface'")
        raise CmdFailed
    for name, fmt in (
        ("target", "  <target dev='%s'/>\n"),
        ("mac", "  <mac address='%s'/>\n"),
        ("script", "  <script path='%s'/>\n"),
        ("model", "  <model type='%s'/>\n"),
        ("alias", "  <alias name='%s'/>\n"),
    ):
        if o[name] is not None:
            lines.append(fmt % o[name])
    if inbound is not None or outbound is not None:
        lines.append("  <bandwidth>\n")
        if inbound is not None and (inbound[0] or inbound[3]):
            attrs = "".join(
                f" {n}='{v}'"
                for n, v in zip(("average", "peak", "burst", "floor"), inbound, strict=False)
                if v > 0
            )
            lines.append(f"    <inbound{attrs}/>\n")
        if outbound is not None and outbound[0] > 0:
            attrs = "".join(
                f" {n}='{v}'"
                for n, v in zip(("average", "peak", "burst"), outbound, strict=False)
                if v > 0
            )
            lines.append(f"    <outbound{attrs}/>\n")
        lines.append("  </bandwidth>\n")
    lines.append("</interface>\n")
    return "".join(lines)


def cmd_attach_interface(ctl: Ctl, cmd: Cmd) -> bool:
    flags, current = _impact(ctl, cmd)
    xml = build_interface_xml(ctl, cmd)
    if cmd.flag("print-xml"):
        ctl.print(xml)
        return True
    dom, _ = lookup_domain(ctl, cmd)
    flags = _persistent_live(cmd, dom, flags)
    with ctl.failing("Failed to attach interface"):
        dom.attach_device(xml, flags, flags_api=current)
    ctl.print_extra("Interface attached successfully\n")
    return True


def _mac_bytes(text: str) -> tuple[int, ...] | None:
    """virMacAddrParse: six hex octets separated by ':'."""
    parts = text.split(":")
    if len(parts) != 6:
        return None
    try:
        octets = tuple(int(p, 16) for p in parts)
    except ValueError:
        return None
    if any(not p or not 0 <= o <= 255 or p[0] in "+-" for p, o in zip(parts, octets, strict=False)):
        return None
    return octets


def _same_mac(a: str, b: str) -> bool:
    """virMacAddrCompare."""
    pa, pb = _mac_bytes(a), _mac_bytes(b)
    if pa is None or pb is None:
        return a == b
    return pa == pb


def _detach_interface(
    ctl: Ctl,
    dom: Domain,
    doc: str,
    flags: int,
    current: bool,
    kind: str,
    mac: str | None,
    printxml: bool,
) -> bool:
    """virshDomainDetachInterface: find the one interface meant, print or detach it."""
    try:
        root = _domain_tree(doc)
        nodes = xnodes(root, f"/domain/devices/interface[@type='{kind}']")
    except Exception:
        ctl.error("Failed to get interface information")
        return False
    if not nodes:
        ctl.error(f"No interface found whose type is {kind}")
        return False
    match = None
    if mac:
        for node in nodes:
            found = xstr(node, "./mac/@address")
            if found and _same_mac(found, mac):
                if match is not None:
                    ctl.error(
                        f"Domain has multiple interfaces matching MAC address {mac}. You must "
                        "use detach-device and specify the device pci address to remove it."
                    )
                    return False
                match = node
    else:
        if len(nodes) > 1:
            ctl.error(
                f"Domain has {len(nodes)} interfaces. Please specify which one to detach "
                "using --mac"
            )
            return False
        match = nodes[0]
    if match is None:
        ctl.error(f"No interface with MAC address {mac} was found")
        return False
    xml = node_to_string(match)
    if printxml:
        ctl.print(xml)
        return True
    dom.detach_device(xml, flags, flags_api=current)
    return True


def cmd_detach_interface(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import VirtError

    _, current = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    printxml = cmd.flag("print-xml")
    ok = False
    try:
        kind = ctl.opt_required(cmd, "type")
        mac = ctl.opt_string(cmd, "mac")
        affect_config = cmd.flag("config") or cmd.flag("persistent")
        ok = True
        if affect_config:
            doc = dom.xml(XML_INACTIVE)
            ok = _detach_interface(ctl, dom, doc, AFFECT_CONFIG, current, kind, mac, printxml)
        if ok:
            affect_live = cmd.flag("live") or (cmd.flag("persistent") and dom.is_active())
            if affect_live or not affect_config:
                doc = dom.xml(0)
                flags = AFFECT_LIVE if affect_live else 0
                ok = _detach_interface(ctl, dom, doc, flags, current, kind, mac, printxml)
        if printxml and ok:
            return True
    except (VirtError, CmdFailed):
        ctl.error("Failed to detach interface")
        raise
    if not ok:
        ctl.error("Failed to detach interface")
        return False
    ctl.print_extra("Interface detached successfully\n")
    return True
