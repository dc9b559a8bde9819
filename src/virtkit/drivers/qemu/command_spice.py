"""SPICE graphics -> ``-spice`` (libvirt 9.0's qemuBuildGraphicsSPICECommandLine).

Also the SPICE parts around it: the define-time checks libvirt's validator makes
(``validate``: TLS port without ``spice_tls``, channel modes, compression names), port
allocation for ``autoport`` (``allocate_ports``), and the QMP commands that set a
graphics password before the CPUs start (``password_commands``; the password never
appears on the command line, as in libvirt).

``SpiceConfig`` carries qemu.conf's SPICE settings and ``vnc_password``; its defaults are
libvirt's (``spice_tls = 0``, ``spice_listen = "127.0.0.1"``, no default password, no SASL).
``validate_vnc`` holds the password rules VNC graphics share with SPICE.
"""

from __future__ import annotations

import calendar
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from virtkit.conf.dev_graphics import Graphics, GraphicsListen
from virtkit.daemon.config import ConfigError, parse_virconf
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = [
    "SpiceConfig",
    "allocate_ports",
    "default_password",
    "listen_of",
    "load_config",
    "password_commands",
    "render_node",
    "spice_args",
    "validate",
    "validate_vnc",
]

# virDomainGraphicsSpiceChannelName / Mode, and the compression enums (domain_conf.c)
CHANNEL_NAMES = frozenset({"main", "display", "inputs", "cursor", "playback", "record",
                           "smartcard", "usbredir"})
CHANNEL_MODES = frozenset({"any", "secure", "insecure"})
IMAGE_COMPRESSION = frozenset({"auto_glz", "auto_lz", "quic", "glz", "lz", "off"})
JPEG_COMPRESSION = frozenset({"auto", "never", "always"})
ZLIB_COMPRESSION = frozenset({"auto", "never", "always"})
STREAMING_MODES = frozenset({"filter", "all", "off"})
MOUSE_MODES = frozenset({"server", "client"})
CONNECTED_ACTIONS = frozenset({"fail", "disconnect", "keep"})

REMOTE_PORT_MIN = 5900  # qemu.conf remote_display_port_min / max (libvirt's defaults)
REMOTE_PORT_MAX = 65535


@dataclass(frozen=True)
class SpiceConfig:
    """qemu.conf's SPICE settings and VNC's default password (libvirt's defaults)."""

    tls: bool = False  # spice_tls
    tls_x509_cert_dir: str = "/etc/pki/libvirt-spice"  # spice_tls_x509_cert_dir
    listen: str = "127.0.0.1"  # spice_listen
    password: str | None = None  # spice_password
    sasl: bool = False  # spice_sasl
    vnc_password: str | None = None  # vnc_password: VNC graphics without passwd get it


def load_config(path: str) -> SpiceConfig:
    """qemu.conf's SPICE settings (virQEMUDriverConfigLoadSPICEEntry); libvirt's defaults
    for a missing file or key. The certificate directory defaults as libvirt's
    SET_TLS_X509_CERT_DEFAULT: /etc/pki/libvirt-spice when it exists, else
    ``default_tls_x509_cert_dir`` (/etc/pki/qemu)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    try:
        values = {e.name: e.value for e in parse_virconf(text, path)}
    except ConfigError as exc:
        raise make_error(ErrorCode.CONF_SYNTAX, ErrorDomain.CONF, str(exc)) from None

    def string(key: str) -> str | None:
        value = values.get(key)
        return value if isinstance(value, str) else None

    def flag(key: str) -> bool:
        value = values.get(key)
        return bool(value) if isinstance(value, int) else False

    cert_dir = string("spice_tls_x509_cert_dir")
    if cert_dir is None:
        default = SpiceConfig.tls_x509_cert_dir
        cert_dir = default if os.path.exists(default) else (
            string("default_tls_x509_cert_dir") or "/etc/pki/qemu")
    tls = flag("spice_tls")
    if tls and not os.path.exists(cert_dir):
        raise make_error(ErrorCode.CONF_SYNTAX, ErrorDomain.CONF,
                         f"spice_tls_x509_cert_dir directory '{cert_dir}' does not exist")
    return SpiceConfig(tls=tls, tls_x509_cert_dir=cert_dir,
                       listen=string("spice_listen") or SpiceConfig.listen,
                       password=string("spice_password"), sasl=flag("spice_sasl"),
                       vnc_password=string("vnc_password"))


def _unsupported(detail: str) -> VirtError:
    return make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.QEMU, detail)


def _xml_error(detail: str) -> VirtError:
    return make_error(ErrorCode.XML_ERROR, ErrorDomain.DOMAIN, detail)


def _port(value: str | None, what: str) -> int:
    if value is None:
        return 0
    try:
        return int(value, 10)
    except ValueError:
        raise _xml_error(f"Invalid value for attribute '{what}' in element 'graphics': "
                         f"'{value}'. Expected integer value") from None


def _escape(value: str) -> str:
    return value.replace(",", ",,")


def listen_of(g: Graphics) -> tuple[str, GraphicsListen | None]:
    """The listen type in effect (address, network, socket or none) and its element."""
    listen = g.listens[0] if g.listens else None
    if listen is not None and listen.type:
        return listen.type, listen
    return "address", listen


def _autoport(g: Graphics) -> bool:
    # virDomainGraphicsDefParseXMLSpice: port and tlsPort -1 is the legacy autoport
    return g.autoport == "yes" or (g.port == "-1" and g.tlsPort == "-1")


def validate(g: Graphics, cfg: SpiceConfig) -> None:
    """What libvirt refuses for SPICE graphics at define time (parser and validator)."""
    ltype, _ = listen_of(g)
    if ltype not in ("address", "network", "socket", "none"):
        raise _xml_error(f"unknown graphics listen type '{ltype}'")
    tls_port = _port(g.tlsPort, "tlsPort")
    _port(g.port, "port")
    if _autoport(g):
        tls_port = 0
    if ltype in ("address", "network") and tls_port > 0 and not cfg.tls:
        raise _unsupported("spice TLS port set in XML configuration, but TLS is disabled "
                           "in qemu.conf")
    if g.defaultMode is not None and g.defaultMode not in CHANNEL_MODES:
        raise _xml_error(f"Invalid value for attribute 'defaultMode' in element 'graphics': "
                         f"'{g.defaultMode}'.")
    for ch in g.channels:
        if ch.name not in CHANNEL_NAMES:
            raise _xml_error(f"Invalid value for attribute 'name' in element 'channel': "
                             f"'{ch.name}'.")
        if ch.mode not in CHANNEL_MODES:
            raise _xml_error(f"Invalid value for attribute 'mode' in element 'channel': "
                             f"'{ch.mode}'.")
    for tag, elem, allowed in (("image", g.image, IMAGE_COMPRESSION),
                               ("jpeg", g.jpeg, JPEG_COMPRESSION),
                               ("zlib", g.zlib, ZLIB_COMPRESSION),
                               ("playback", g.playback, frozenset({"on", "off"}))):
        if elem is not None and elem.compression not in allowed:
            raise _xml_error(f"Invalid value for attribute 'compression' in element "
                             f"'{tag}': '{elem.compression}'.")
    if g.streaming is not None and g.streaming.mode not in STREAMING_MODES:
        raise _xml_error(f"Invalid value for attribute 'mode' in element 'streaming': "
                         f"'{g.streaming.mode}'.")
    if g.mouse is not None and g.mouse.mode not in MOUSE_MODES:
        raise _xml_error(f"Invalid value for attribute 'mode' in element 'mouse': "
                         f"'{g.mouse.mode}'.")
    if g.connected is not None and g.connected not in CONNECTED_ACTIONS:
        raise _xml_error(f"Invalid value for attribute 'connected' in element 'graphics': "
                         f"'{g.connected}'.")
    # <gl enable='yes'/>: this QEMU has QEMU_CAPS_SPICE_GL and _RENDERNODE (Debian builds
    # it with OpenGL), so define accepts it; start needs a DRM render node (render_node)


def validate_vnc(g: Graphics) -> None:
    """virDomainGraphicsAuthDefParseXML's rule for VNC: with a password, ``connected`` may
    only be ``keep`` (QEMU cannot drop VNC clients when the password changes)."""
    if g.passwd is not None and g.connected not in (None, "keep"):
        if g.connected not in CONNECTED_ACTIONS:
            raise make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.DOMAIN,
                             f"unknown connected value {g.connected}")
        raise make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.DOMAIN,
                         "VNC supports connected='keep' only")


def default_password(g: Graphics, cfg: SpiceConfig) -> str | None:
    """qemu.conf's password for ``g``'s type (spice_password / vnc_password)."""
    return cfg.password if g.type == "spice" else cfg.vnc_password if g.type == "vnc" else None


def _needs(g: Graphics, cfg: SpiceConfig) -> tuple[bool, bool]:
    """(needPort, needTLSPort) of qemuProcessSPICEAllocatePorts for an autoport graphics."""
    need_port = need_tls = False
    for ch in g.channels:
        if ch.mode == "secure":
            need_tls = True
        elif ch.mode == "insecure":
            need_port = True
    mode = g.defaultMode or "any"
    if mode == "secure":
        need_tls = True
    elif mode == "insecure":
        need_port = True
    else:
        need_tls = need_tls or cfg.tls
        need_port = True
    return need_port, need_tls


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def allocate_ports(g: Graphics, cfg: SpiceConfig, taken: set[int],
                   free: Callable[[int], bool] = _port_free) -> None:
    """Give an autoport SPICE graphics its port (and TLS port) as libvirt's
    qemuProcessSPICEAllocatePorts does: the first port from 5900 not in ``taken`` that is
    free on the host; ``taken`` gets the ports used. Socket and none listens take none."""
    ltype, _ = listen_of(g)
    if ltype not in ("address", "network"):
        return
    port = _port(g.port, "port")
    tls_port = _port(g.tlsPort, "tlsPort")
    need_port = need_tls = False
    if _autoport(g):
        need_port, need_tls = _needs(g, cfg)
        port = tls_port = 0
        g.autoport = "yes"
    if need_port or port == -1:
        port = _acquire(taken, free)
    if need_tls or tls_port == -1:
        if not cfg.tls:
            raise _unsupported("Auto allocation of spice TLS port requested but spice TLS "
                               "is disabled in qemu.conf")
        tls_port = _acquire(taken, free)
    g.port = str(port) if port > 0 else g.port if g.port != "-1" else None
    g.tlsPort = str(tls_port) if tls_port > 0 else None


def _acquire(taken: set[int], free: Callable[[int], bool]) -> int:
    for port in range(REMOTE_PORT_MIN, REMOTE_PORT_MAX + 1):
        if port not in taken and free(port):
            taken.add(port)
            return port
    raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                     f"Unable to find an unused port in range 'display' "
                     f"({REMOTE_PORT_MIN}-{REMOTE_PORT_MAX})")


def spice_args(g: Graphics, cfg: SpiceConfig, socket_path: Callable[[], str]) -> list[str]:
    """``-spice OPTS`` (and ``-k KEYMAP``) for ``g`` (ports already allocated);
    ``socket_path()`` names the socket of a ``socket`` listen without a path (its path is
    written into the listen, as libvirt's live XML has it)."""
    ltype, listen = listen_of(g)
    opts: list[str] = []
    has_secure = has_insecure = False
    port = _port(g.port, "port")
    tls_port = _port(g.tlsPort, "tlsPort")
    if ltype == "socket":
        path = listen.socket if listen is not None else None
        if not path:
            path = socket_path()
            if listen is None:
                listen = GraphicsListen()
                listen.type = "socket"
                g.listens.append(listen)
            listen.socket = path
            listen.autoGenerated = listen.autoGenerated or "yes"
        opts.append(f"unix,addr={_escape(path)}")
        has_insecure = True
    elif ltype in ("address", "network"):
        if port > 0:
            opts.append(f"port={port}")
            has_insecure = True
        if tls_port > 0:
            if not cfg.tls:
                raise _unsupported("spice TLS port set in XML configuration, but TLS is "
                                   "disabled in qemu.conf")
            opts.append(f"tls-port={tls_port}")
            has_secure = True
        if port > 0 or tls_port > 0:
            addr = _listen_address(g, listen, ltype, cfg)
            if addr:
                opts.append(f"addr={addr}")
    elif ltype == "none":
        opts.append("port=0")  # QEMU needs a port or tls-port when nothing else is given
        has_insecure = True
    if cfg.sasl:
        opts.append("sasl=on")
    if g.mouse is not None and g.mouse.mode == "server":
        opts.append("agent-mouse=off")
    elif g.mouse is not None and g.mouse.mode == "client":
        opts.append("agent-mouse=on")
    if g.passwd is None and cfg.password is None:
        opts.append("disable-ticketing=on")
    if has_secure:
        opts.append(f"x509-dir={_escape(cfg.tls_x509_cert_dir)}")
    mode = g.defaultMode or "any"
    if mode == "secure":
        if not has_secure:
            raise _unsupported("spice defaultMode secure requested in XML configuration, "
                               "but TLS connection is not available")
        opts.append("tls-channel=default")
    elif mode == "insecure":
        if not has_insecure:
            raise _unsupported("spice defaultMode insecure requested in XML configuration, "
                               "but plaintext connection is not available")
        opts.append("plaintext-channel=default")
    for ch in _channels_in_enum_order(g):
        if ch.mode == "secure":
            if not has_secure:
                raise _unsupported("spice secure channels set in XML configuration, but "
                                   "TLS connection is not available")
            opts.append(f"tls-channel={ch.name}")
        elif ch.mode == "insecure":
            if not has_insecure:
                raise _unsupported("spice insecure channels set in XML configuration, but "
                                   "plaintext connection is not available")
            opts.append(f"plaintext-channel={ch.name}")
    if g.image is not None:
        opts.append(f"image-compression={g.image.compression}")
    if g.jpeg is not None:
        opts.append(f"jpeg-wan-compression={g.jpeg.compression}")
    if g.zlib is not None:
        opts.append(f"zlib-glz-wan-compression={g.zlib.compression}")
    if g.playback is not None:
        opts.append(f"playback-compression={g.playback.compression}")
    if g.streaming is not None:
        opts.append(f"streaming-video={g.streaming.mode}")
    if g.clipboard is not None and g.clipboard.copypaste == "no":
        opts.append("disable-copy-paste=on")
    if g.filetransfer is not None and g.filetransfer.enable == "no":
        opts.append("disable-agent-file-xfer=on")
    if g.gl is not None and g.gl.enable == "yes":
        if not g.gl.rendernode:  # qemuProcessGraphicsSetupRenderNode: the live XML shows it
            g.gl.rendernode = render_node()
        opts += ["gl=on", f"rendernode={_escape(g.gl.rendernode)}"]
    opts.append("seamless-migration=on")
    argv = ["-spice", ",".join(opts)]
    if g.keymap:
        argv += ["-k", g.keymap]
    return argv


DRI_DIR = "/dev/dri"


def render_node(dri_dir: str = DRI_DIR) -> str:
    """The first DRM render node (virHostGetDRMRenderNode), with libvirt's errors: a host
    without ``/dev/dri`` (no GPU, as this one) fails the start of a SPICE ``<gl>``."""
    try:
        names = sorted(os.listdir(dri_dir))
    except OSError as exc:
        raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.NONE,
                         f"cannot open directory '{dri_dir}': {exc.strerror}") from None
    for name in names:
        if name.startswith("renderD"):
            return f"{dri_dir}/{name}"
    raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE, "No DRM render nodes available")


_CHANNEL_ORDER = ("main", "display", "inputs", "cursor", "playback", "record", "smartcard",
                  "usbredir")


def _channels_in_enum_order(g: Graphics) -> Iterable[Any]:
    # libvirt keeps one mode per channel name (the last one written wins) and walks them in
    # the enum's order
    last = {ch.name: ch for ch in g.channels}
    return [last[name] for name in _CHANNEL_ORDER if name in last]


def _listen_address(g: Graphics, listen: GraphicsListen | None, ltype: str,
                    cfg: SpiceConfig) -> str | None:
    if listen is not None and listen.address:
        return listen.address
    if ltype == "network":
        network = listen.network if listen is not None else None
        raise _unsupported(f"network '{network}' of a graphics listen has no address "
                           "resolved")
    address = g.listen or cfg.listen
    if listen is None:
        listen = GraphicsListen()
        listen.type = "address"
        g.listens.append(listen)
    listen.address = address  # the live XML shows it (fromConfig: status XML only)
    return address


def password_commands(g: Graphics, default: str | None = None,
                      now: float | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The QMP commands libvirt sends to set a graphics password at start
    (qemuDomainChangeGraphicsPasswords): ``set_password`` then ``expire_password``;
    nothing without a password."""
    password = g.passwd if g.passwd is not None else default
    if password is None or g.type not in ("vnc", "spice"):
        return []
    # qemuMonitorSetPassword: connected defaults to "keep"
    args: dict[str, Any] = {"protocol": g.type, "password": password,
                            "connected": g.connected or "keep"}
    cmds: list[tuple[str, dict[str, Any]]] = [("set_password", args)]
    valid_to = _valid_to(g.passwdValidTo)
    current = time.time() if now is None else now
    if password == "" or (valid_to is not None and valid_to <= current):
        expire = "now"
    elif valid_to is not None:
        expire = str(valid_to)
    else:
        expire = "never"
    cmds.append(("expire_password", {"protocol": g.type, "time": expire}))
    return cmds


def _valid_to(value: str | None) -> int | None:
    """``passwdValidTo`` (UTC, ``YYYY-MM-DDTHH:MM:SS``) as seconds since the epoch."""
    if not value:
        return None
    text = value.rstrip("Z").split(".")[0]
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        raise _xml_error(f"cannot parse password validity time '{value}', expect "
                         "YYYY-MM-DDTHH:MM:SS") from None
