"""libvirt's QEMU migration cookie: the ``<qemu-migration>`` document each phase of a
migration hands the next (src/qemu/qemu_migration_cookie.c).

``MigrationCookie.parse`` reads and checks a cookie as qemuMigrationCookieParse does
(NUL-terminated, the expected domain name and UUID, a different host UUID, only the
mandatory features the phase accepts); ``to_bytes`` writes it as
qemuMigrationCookieXMLFormat does, NUL included. Elements this model does not interpret
(``<cpu>``, ``<capabilities>``, ``<blockDirtyBitmaps>``, ``<lockstate>``) are kept and
written back verbatim, so what libvirt sends survives a round trip.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from virtkit.conf.xmlutil import Element, escape_attr, escape_text, parse_xml, write_raw
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = [
    "COOKIE_STATS_FIELDS",
    "CookieFlag",
    "CookieGraphics",
    "CookieNBD",
    "CookieNetIf",
    "CookieStats",
    "MigrationCookie",
]


class CookieFlag(enum.IntFlag):
    """qemuMigrationCookieFlags: one bit per cookie section (and mandatory feature name)."""

    GRAPHICS = 1 << 0
    LOCKSTATE = 1 << 1
    PERSISTENT = 1 << 2
    NETWORK = 1 << 3
    NBD = 1 << 4
    STATS = 1 << 5
    MEMORY_HOTPLUG = 1 << 6
    CPU_HOTPLUG = 1 << 7
    CPU = 1 << 8
    ALLOW_REBOOT = 1 << 9
    CAPS = 1 << 10
    BLOCK_DIRTY_BITMAPS = 1 << 11


# qemuMigrationCookieFlagTypeToString, in bit order
_FEATURE_NAMES = ("graphics", "lockstate", "persistent", "network", "nbd", "statistics",
                  "memory-hotplug", "cpu-hotplug", "cpu", "allowReboot", "capabilities",
                  "block-dirty-bitmaps")

# The <statistics> children after the times, in qemuMigrationCookieStatisticsXMLFormat's
# order: (name, written only when present). VIR_DOMAIN_JOB_* names.
COOKIE_STATS_FIELDS: tuple[tuple[str, bool], ...] = (
    ("time_elapsed", False), ("downtime", True), ("setup_time", True),
    ("memory_total", False), ("memory_processed", False), ("memory_remaining", False),
    ("memory_bps", False), ("memory_constant", True), ("memory_normal", True),
    ("memory_normal_bytes", True), ("memory_dirty_rate", False), ("memory_iteration", False),
    ("memory_postcopy_requests", False), ("memory_page_size", False),
    ("disk_total", False), ("disk_processed", False), ("disk_remaining", False),
    ("disk_bps", False), ("compression_cache", True), ("compression_bytes", True),
    ("compression_pages", True), ("compression_cache_misses", True),
    ("compression_overflow", True), ("auto_converge_throttle", False),
)
# Kept verbatim (written back in this order, after <statistics>).
_OPAQUE = ("cpu", "capabilities", "blockDirtyBitmaps")


def _err(detail: str) -> VirtError:
    return make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.QEMU, detail)


@dataclass
class CookieGraphics:
    """``<graphics type= port= listen= [tlsPort=]>``: where the client should reconnect."""

    type: str
    port: int
    listen: str
    tls_port: int = -1
    tls_subject: str | None = None


@dataclass
class CookieNBD:
    """``<nbd port=>`` with ``<disk target= capacity=>``: the destination's NBD server."""

    port: int = 0
    disks: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class CookieNetIf:
    """``<network><interface index= vporttype=><portdata>``."""

    index: int
    vporttype: str
    portdata: str | None = None


@dataclass
class CookieStats:
    """``<statistics>``: the source's completed job (ms since the epoch, then counters)."""

    started: int = 0
    stopped: int = 0
    sent: int = 0
    delta: int | None = None
    values: dict[str, int] = field(default_factory=dict)


@dataclass
class MigrationCookie:
    """One cookie. ``features`` are its mandatory features (``<feature name=>``)."""

    name: str
    uuid: str
    hostname: str
    hostuuid: str
    features: CookieFlag = field(default_factory=lambda: CookieFlag(0))
    graphics: CookieGraphics | None = None
    lockstate: str | None = None  # the <lockstate> element, verbatim
    persistent: str | None = None  # the <domain> definition to define on the destination
    network: list[CookieNetIf] = field(default_factory=list)
    nbd: CookieNBD | None = None
    stats: CookieStats | None = None
    opaque: dict[str, str] = field(default_factory=dict)  # <cpu> and friends, verbatim

    # ------------------------------------------------------------ formatting

    def to_xml(self) -> str:
        """The document, as qemuMigrationCookieXMLFormat writes it."""
        out = ["<qemu-migration>\n",
               f"  <name>{escape_text(self.name)}</name>\n",
               f"  <uuid>{self.uuid}</uuid>\n",
               f"  <hostname>{escape_text(self.hostname)}</hostname>\n",
               f"  <hostuuid>{self.hostuuid}</hostuuid>\n"]
        for bit, name in enumerate(_FEATURE_NAMES):
            if self.features & (1 << bit):
                out.append(f"  <feature name='{name}'/>\n")
        g = self.graphics
        if g is not None:
            attrs = f" type='{g.type}' port='{g.port}' listen='{escape_attr(g.listen)}'"
            if g.type == "spice":
                attrs += f" tlsPort='{g.tls_port}'"
            if g.tls_subject is not None:
                out.append(f"  <graphics{attrs}>\n    <cert info='subject' "
                           f"value='{escape_attr(g.tls_subject)}'/>\n  </graphics>\n")
            else:
                out.append(f"  <graphics{attrs}/>\n")
        if self.lockstate:
            out.append(_indent(self.lockstate))
        if self.persistent:
            out.append(_indent(self.persistent))
        if self.network:
            out.append("  <network>\n")
            for n in self.network:
                head = f"    <interface index='{n.index}' vporttype='{n.vporttype}'"
                if n.portdata is None:
                    out.append(head + "/>\n")
                else:
                    out.append(f"{head}>\n      <portdata>{escape_text(n.portdata)}"
                               "</portdata>\n    </interface>\n")
            out.append("  </network>\n")
        if self.nbd is not None:
            port = f" port='{self.nbd.port}'" if self.nbd.port else ""
            if self.nbd.disks:
                out.append(f"  <nbd{port}>\n")
                out.extend(f"    <disk target='{escape_attr(t)}' capacity='{c}'/>\n"
                           for t, c in self.nbd.disks)
                out.append("  </nbd>\n")
            else:
                out.append(f"  <nbd{port}/>\n")
        if self.stats is not None:
            out.append(_stats_xml(self.stats))
        for tag in _OPAQUE:
            if tag in self.opaque:
                out.append(_indent(self.opaque[tag]))
        out.append("</qemu-migration>\n")
        return "".join(out)

    def to_bytes(self) -> bytes:
        """The cookie as it travels: the document and its NUL (libvirt's cookieoutlen)."""
        return self.to_xml().encode() + b"\0"

    # ------------------------------------------------------------ parsing

    @classmethod
    def parse(cls, data: bytes, *, accept: CookieFlag, name: str | None = None,
              uuid: str | None = None, local_hostuuid: str | None = None,
              ) -> MigrationCookie:
        """Read ``data`` as qemuMigrationCookieParse does. ``accept`` is the phase's
        cookie flags (a mandatory feature outside them is refused); ``name``/``uuid``
        are the domain's, ``local_hostuuid`` this host's (a cookie from the same host
        is refused). Sections outside ``accept`` are ignored, as libvirt ignores them."""
        if not data.endswith(b"\0"):
            raise _err("Migration cookie was not NULL terminated")
        root = parse_xml(data[:-1].split(b"\0", 1)[0], "(qemu_migration_cookie)",
                         ErrorDomain.QEMU)
        if root.tag != "qemu-migration":
            raise _err("missing name element in migration data")
        got_name = _text(root, "name")
        if got_name is None:
            raise _err("missing name element in migration data")
        if name is not None and got_name != name:
            raise _err(f"Incoming cookie data had unexpected name {got_name} vs {name}")
        got_uuid = _text(root, "uuid")
        if got_uuid is None:
            raise _err("missing uuid element in migration data")
        if uuid is not None and got_uuid.lower() != uuid.lower():
            raise _err(f"Incoming cookie data had unexpected UUID {got_uuid} vs {uuid}")
        hostname = _text(root, "hostname")
        if hostname is None:
            raise _err("missing hostname element in migration data")
        hostuuid = _text(root, "hostuuid")
        if hostuuid is None:
            raise _err("missing hostuuid element in migration data")
        if not _is_uuid(hostuuid):
            raise _err("malformed hostuuid element in migration data")
        if local_hostuuid is not None and hostuuid.lower() == local_hostuuid.lower():
            raise _err(f"Attempt to migrate guest to the same host {hostuuid}")
        cookie = cls(got_name, got_uuid, hostname, hostuuid)
        for feat in root.findall("feature"):
            fname = feat.get("name")
            if fname is None:
                raise _err("missing feature name")
            if fname not in _FEATURE_NAMES:
                raise _err(f"Unknown migration cookie feature {fname}")
            bit = CookieFlag(1 << _FEATURE_NAMES.index(fname))
            if not accept & bit:
                raise _err(f"Unsupported migration cookie feature {fname}")
            cookie.features |= bit
        cookie._parse_sections(root, accept)
        return cookie

    def _parse_sections(self, root: Element, accept: CookieFlag) -> None:
        if accept & CookieFlag.GRAPHICS and root.find("graphics") is not None:
            self.graphics = _parse_graphics(root.find("graphics"))
        lock = root.find("lockstate")
        if accept & CookieFlag.LOCKSTATE and lock is not None:
            if lock.get("driver") is None:
                raise _err("Missing lock driver name in migration cookie")
            self.lockstate = _raw(lock)
        domains = root.findall("domain")
        if accept & CookieFlag.PERSISTENT and domains:
            if len(domains) != 1:
                raise _err("Too many domain elements in migration cookie")
            self.persistent = _raw(domains[0])
        net = root.find("network")
        if accept & CookieFlag.NETWORK and net is not None:
            self.network = [_parse_netif(i) for i in net.findall("interface")]
        nbd = root.find("nbd")
        if accept & CookieFlag.NBD and nbd is not None:
            self.nbd = _parse_nbd(nbd)
        stats = root.find("statistics")
        if accept & CookieFlag.STATS and stats is not None:
            self.stats = _parse_stats(stats)
        for tag, flag in (("cpu", CookieFlag.CPU), ("capabilities", CookieFlag.CAPS),
                          ("blockDirtyBitmaps", CookieFlag.BLOCK_DIRTY_BITMAPS)):
            el = root.find(tag)
            if accept & flag and el is not None:
                self.opaque[tag] = _raw(el)


def _indent(block: str) -> str:
    """A verbatim element re-indented one level, as a child of <qemu-migration>."""
    lines = block.rstrip("\n").split("\n")
    return "".join(f"  {line}\n" if line else "\n" for line in lines)


def _stats_xml(s: CookieStats) -> str:
    out = ["  <statistics>\n", f"    <started>{s.started}</started>\n",
           f"    <stopped>{s.stopped}</stopped>\n", f"    <sent>{s.sent}</sent>\n"]
    if s.delta is not None:
        out.append(f"    <delta>{s.delta}</delta>\n")
    for key, optional in COOKIE_STATS_FIELDS:
        if optional and key not in s.values:
            continue
        out.append(f"    <{key}>{s.values.get(key, 0)}</{key}>\n")
    out.append("  </statistics>\n")
    return "".join(out)


def _text(root: Element, tag: str) -> str | None:
    el = root.find(tag)
    if el is None:
        return None
    return _alltext(el)


def _raw(el: Element) -> str:
    """An element kept verbatim, written in libvirt's style (single quotes)."""
    out: list[str] = []
    write_raw(el, 0, out)
    return "".join(out)


def _alltext(el: Element) -> str:
    return "".join(str(t) for t in el.itertext())


def _is_uuid(text: str) -> bool:
    import uuid as uuidlib

    try:
        uuidlib.UUID(text)
    except ValueError:
        return False
    return True


def _int(text: str | None, what: str) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise _err(f"missing {what} attribute in migration data") from None


def _parse_graphics(el: Element | None) -> CookieGraphics:
    """qemuMigrationCookieGraphicsXMLParse."""
    assert el is not None
    gtype = el.get("type")
    if gtype is None:
        raise _err("missing type attribute in migration data")
    if gtype not in ("sdl", "vnc", "rdp", "desktop", "spice", "egl-headless", "dbus"):
        raise _err(f"unknown graphics type {gtype}")
    port = _int(el.get("port"), "port")
    tls_port = _int(el.get("tlsPort"), "tlsPort") if gtype == "spice" else -1
    listen = el.get("listen")
    if listen is None:
        raise _err("missing listen attribute in migration data")
    cert = el.find("cert[@info='subject']")
    return CookieGraphics(gtype, port, listen, tls_port,
                          cert.get("value") if cert is not None else None)


def _parse_netif(el: Element) -> CookieNetIf:
    portdata = el.find("portdata")
    return CookieNetIf(_int(el.get("index"), "index"), el.get("vporttype") or "",
                       _alltext(portdata) if portdata is not None else None)


def _parse_nbd(el: Element) -> CookieNBD:
    """qemuMigrationCookieNBDXMLParse: a port, and each disk's target and capacity."""
    port = el.get("port")
    try:
        nbd = CookieNBD(int(port) if port else 0)
    except ValueError:
        raise _err(f"Malformed nbd port '{port}'") from None
    for disk in el.findall("disk"):
        target = disk.get("target")
        if not target:
            raise _err("Malformed disk target")
        cap = disk.get("capacity")
        if cap is None or not cap.isdigit():
            raise _err(f"Malformed disk capacity: '{cap if cap is not None else '(null)'}'")
        nbd.disks.append((target, int(cap)))
    return nbd


def _parse_stats(el: Element) -> CookieStats:
    """qemuMigrationCookieStatisticsXMLParse: unparsable numbers are skipped."""
    def num(tag: str) -> int | None:
        child = el.find(tag)
        if child is None:
            return None
        try:
            return int(_alltext(child).strip())
        except ValueError:
            return None

    stats = CookieStats(num("started") or 0, num("stopped") or 0, num("sent") or 0,
                        num("delta"))
    for key, _ in COOKIE_STATS_FIELDS:
        value = num(key)
        if value is not None:
            stats.values[key] = value
    return stats
