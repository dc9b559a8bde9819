"""Device monitoring commands: domblklist, domiflist, domblkinfo, domblkstat, domifstat,
domifaddr and dommemstat, printed as virsh 9.0 prints them."""

from __future__ import annotations

from virtkit.cli.common import exclusive, lookup_domain
from virtkit.cli.framework import Cmd, CmdFailed, Ctl
from virtkit.cli.output import format_table, pretty_capacity, to_json

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from typing import Any

    from lxml.etree import _Element

    from virtkit.types import DomainBlockInfo

XML_INACTIVE = 2


def _domain_xml(ctl: Ctl, cmd: Cmd, flags: int) -> _Element:
    """virshDomainGetXML: the domain's XML, parsed."""
    from lxml import etree

    dom, _ = lookup_domain(ctl, cmd)
    with ctl.failing("Failed to get domain description xml"):
        desc = dom.xml(flags)
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        return etree.fromstring(desc.encode(), parser)
    except etree.XMLSyntaxError:
        ctl.error("Failed to parse domain description xml")
        raise CmdFailed from None


def xstr(node: _Element, expr: str) -> str | None:
    """virXPathString: None for an empty result."""
    value = node.xpath(f"string({expr})")
    return str(value) if value else None


def xnodes(node: _Element, expr: str) -> list[_Element]:
    """virXPathNodeSet: the elements ``expr`` selects."""
    from lxml import etree

    result = node.xpath(expr)
    if not isinstance(result, list):
        return []
    return [n for n in result if isinstance(n, etree._Element)]


def cmd_domblklist(ctl: Ctl, cmd: Cmd) -> bool:
    details = cmd.flag("details")
    root = _domain_xml(ctl, cmd, XML_INACTIVE if cmd.flag("inactive") else 0)
    rows: list[list[str]] = []
    docs: list[dict[str, Any]] = []
    for disk in xnodes(root, "./devices/disk"):
        kind = xstr(disk, "./@type")
        device = xstr(disk, "./@device")
        if details and (kind is None or device is None):
            ctl.print("unable to query block list details")
            return False
        target = xstr(disk, "./target/@dev")
        if target is None:
            ctl.error("unable to query block list")
            return False
        source: str | None
        if kind == "nvme":
            source = _nvme_source(ctl, disk)
        else:
            source = xstr(
                disk,
                "./source/@file|./source/@dev|./source/@dir|./source/@name"
                "|./source/@volume|./source/@path",
            )
        shown = source if source is not None else "-"
        rows.append([kind or "", device or "", target, shown] if details else [target, shown])
        docs.append({"type": kind, "device": device, "target": target, "source": source})
    if cmd.flag("json"):
        ctl.print(to_json(docs))
        return True
    header = ["Type", "Device", "Target", "Source"] if details else ["Target", "Source"]
    ctl.print(format_table(header, rows, not ctl.quiet))
    return True


def _nvme_source(ctl: Ctl, disk: _Element) -> str:
    """nvme://DDDD:BB:SS.F/NAMESPACE."""
    namespace = xstr(disk, "./source/@namespace")
    addrs = xnodes(disk, "./source/address")
    try:
        if namespace is None or not addrs:
            raise ValueError
        a = addrs[0]
        values = [int(a.get(k, "0"), 0) for k in ("domain", "bus", "slot", "function")]
    except ValueError:
        ctl.error("Unable to query NVMe disk address")
        raise CmdFailed from None
    return f"nvme://{values[0]:04x}:{values[1]:02x}:{values[2]:02x}.{values[3]}/{namespace}"


def cmd_domiflist(ctl: Ctl, cmd: Cmd) -> bool:
    root = _domain_xml(ctl, cmd, XML_INACTIVE if cmd.flag("inactive") else 0)
    rows: list[list[str]] = []
    docs: list[dict[str, Any]] = []
    for iface in xnodes(root, "./devices/interface"):
        kind = xstr(iface, "./@type")
        source = xstr(
            iface,
            "./source/@bridge|./source/@dev|./source/@network|./source/@name|./source/@path",
        )
        target = xstr(iface, "./target/@dev")
        model = xstr(iface, "./model/@type")
        mac = xstr(iface, "./mac/@address")
        rows.append([target or "-", kind or "", source or "-", model or "-", mac or "-"])
        docs.append(
            {"interface": target, "type": kind, "source": source, "model": model, "mac": mac}
        )
    if cmd.flag("json"):
        ctl.print(to_json(docs))
        return True
    header = ["Interface", "Type", "Source", "Model", "MAC"]
    ctl.print(format_table(header, rows, not ctl.quiet))
    return True


def _blkinfo_cells(info: DomainBlockInfo, human: bool) -> list[str]:
    """cmdDomblkinfoGet: "-" for an empty disk, bytes, or "1.000 GiB"."""
    values = (info.capacity, info.allocation, info.physical)
    if not any(values):
        return ["-", "-", "-"]
    if not human:
        return [str(v) for v in values]
    cells = []
    for v in values:
        number, unit = pretty_capacity(v)
        cells.append(f"{number:.3f} {unit}")
    return cells


def cmd_domblkinfo(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import ErrorCode, ErrorDomain, VirtError
    from virtkit.types import DomainBlockInfo

    exclusive(ctl, cmd, "all", "device")
    dom, _ = lookup_domain(ctl, cmd)
    show_all = cmd.flag("all")
    device = cmd.raw("device")
    if not show_all and not device:
        ctl.error("command 'domblkinfo' requires <device> option")
        return False
    human = cmd.flag("human")
    if not show_all:
        assert device is not None
        cells = _blkinfo_cells(dom.block_info(device), human)
        labels = ("Capacity:", "Allocation:", "Physical:")
        ctl.print(
            "".join(f"{label:<15} {cell}\n" for label, cell in zip(labels, cells, strict=False))
        )
        return True
    active = dom.is_active()
    with ctl.failing("Failed to get domain description xml"):
        desc = dom.xml(0)
    from lxml import etree

    root = etree.fromstring(desc.encode(), etree.XMLParser(resolve_entities=False))
    rows: list[list[str]] = []
    for disk in xnodes(root, "./devices/disk"):
        protocol = xstr(disk, "./source/@protocol")
        target = xstr(disk, "./target/@dev") or ""
        info = DomainBlockInfo(0, 0, 0)
        if disk.find("source") is not None:
            try:
                info = dom.block_info(target)
            except VirtError as exc:
                if not (
                    protocol
                    and not active
                    and exc.code == ErrorCode.INTERNAL_ERROR
                    and exc.domain == ErrorDomain.STORAGE
                ):
                    raise
        rows.append([target, *_blkinfo_cells(info, human)])
    header = ["Target", "Capacity", "Allocation", "Physical"]
    ctl.print(format_table(header, rows, not ctl.quiet))
    return True


# (typed parameter name, legacy name, --human label) in virsh's order
_BLKSTAT_FIELDS = (
    ("rd_operations", "rd_req", "number of read operations:"),
    ("rd_bytes", "rd_bytes", "number of bytes read:"),
    ("wr_operations", "wr_req", "number of write operations:"),
    ("wr_bytes", "wr_bytes", "number of bytes written:"),
    ("errs", "errs", "error count:"),
    ("flush_operations", None, "number of flush operations:"),
    ("rd_total_times", None, "total duration of reads (ns):"),
    ("wr_total_times", None, "total duration of writes (ns):"),
    ("flush_total_times", None, "total duration of flushes (ns):"),
)


def cmd_domblkstat(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import NoSupportError, VirtError

    human = cmd.flag("human")
    dom, name = lookup_domain(ctl, cmd)
    device = cmd.raw("device") or ""
    try:
        params = dom.block_stats_flags(device)
    except NoSupportError:
        params = None
    width = 31 if human else 0
    if params is None:
        try:
            stats = dom.block_stats(device)
        except VirtError:
            ctl.error(f"Failed to get block stats {name} {device}")
            raise
        prefix = device
        if human:
            ctl.print(f"Device: {device}\n")
            prefix = ""
        values = (stats.rd_req, stats.rd_bytes, stats.wr_req, stats.wr_bytes, stats.errs)
        for (_, legacy, label), value in zip(_BLKSTAT_FIELDS, values, strict=False):
            if value >= 0:
                ctl.print(f"{prefix} {(label if human else legacy):<{width}} {value}\n")
        return True
    prefix = device
    if human:
        ctl.print(f"Device: {device}\n")
        prefix = ""
    remaining = dict(params)
    for field, legacy, label in _BLKSTAT_FIELDS:
        if field not in remaining:
            continue
        shown = label if human else (legacy or field)
        ctl.print(f"{prefix} {shown:<{width}} {_param(remaining.pop(field))}\n")
    for field, param in remaining.items():
        ctl.print(f"{prefix} {field} {_param(param)}\n")
    return True


def _param(value: object) -> str:
    """vshGetTypedParamValue."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:f}"
    return str(value)


def cmd_domifstat(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import VirtError

    dom, name = lookup_domain(ctl, cmd)
    device = ctl.opt_required(cmd, "interface")
    try:
        stats = dom.interface_stats(device)
    except VirtError:
        ctl.error(f"Failed to get interface stats {name} {device}")
        raise
    for field in stats._fields:
        value = getattr(stats, field)
        if value >= 0:
            ctl.print(f"{device} {field} {value}\n")
    return True


_ADDR_SOURCES = ("lease", "agent", "arp")


def cmd_domifaddr(ctl: Ctl, cmd: Cmd) -> bool:
    full = cmd.flag("full")
    wanted = ctl.opt_string(cmd, "interface")
    source_name = ctl.opt_string(cmd, "source")
    source = 0
    if source_name is not None:
        if source_name not in _ADDR_SOURCES:
            ctl.error(f"Unknown data source '{source_name}'")
            return False
        source = _ADDR_SOURCES.index(source_name)
    dom, _ = lookup_domain(ctl, cmd)
    with ctl.failing("Failed to query for interfaces addresses"):
        ifaces = dom.interface_addresses(source)
    ctl.print_extra(
        f" {'Name':<10} {'MAC address':<20} {'Protocol':<8}     Address\n" + "-" * 79 + "\n"
    )
    for iface in ifaces:
        if wanted is not None and wanted != iface.name:
            continue
        if not iface.addrs:
            ctl.print(f" {iface.name:<10} {iface.hwaddr or 'N/A':<17}    {'N/A':<12} N/A\n")
            continue
        for j, addr in enumerate(iface.addrs):
            kind = {0: "ipv4", 1: "ipv6"}.get(addr.type, "(null)")
            text = f"{kind:<12} {addr.addr}/{addr.prefix}"
            if full or not j:
                ctl.print(f" {iface.name:<10} {iface.hwaddr or '':<17}    {text}\n")
            else:
                ctl.print(f" {'-':<10} {'-':<17}    {text}\n")
    return True


_MEMSTAT_NAMES = frozenset(
    (
        "swap_in",
        "swap_out",
        "major_fault",
        "minor_fault",
        "unused",
        "available",
        "usable",
        "actual",
        "rss",
        "last_update",
        "disk_caches",
        "hugetlb_pgalloc",
        "hugetlb_pgfail",
    )
)


def cmd_dommemstat(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import VirtError

    config, live, current = cmd.flag("config"), cmd.flag("live"), cmd.flag("current")
    exclusive(ctl, cmd, "current", "live")
    exclusive(ctl, cmd, "current", "config")
    flags = (2 if config else 0) | (1 if live else 0)
    dom, name = lookup_domain(ctl, cmd)
    if not (current or live or config) and dom.is_active():
        flags |= 1
    period = ctl.opt_int(cmd, "period")
    if period is not None:
        if period < 0:
            ctl.error(f"Invalid collection period value '{period}'")
            return False
        with ctl.failing("Unable to change balloon collection period."):
            dom.set_memory_stats_period(period, flags)
        return True
    try:
        stats = dom.memory_stats()
    except VirtError:
        ctl.error(f"Failed to get memory statistics for domain {name}")
        raise
    for key, value in stats.items():
        if key in _MEMSTAT_NAMES:
            ctl.print(f"{key} {value}\n")
    return True
