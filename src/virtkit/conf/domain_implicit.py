"""Character-device, console, video and graphics defaults of libvirt's generic
domain post-parse, and the devices it implies.

Mirrors (libvirt 9.0, facts only) the parts of ``virDomainDefPostParse`` that
touch these devices, in its order:

1. ``chr_defaults``: a backend type defaults to ``pty``; ISA serial ports (lowest
   free of 4), then per device: a console's target type defaults to ``serial`` and
   its port is its index; a serial or parallel port without ``port`` gets one more
   than the highest in its list;
2. ``video_defaults`` (per device): the driver's default model type, default
   ``vram`` (and ``ram`` for qxl), both rounded up to a power of two, ``heads='1'``;
3. ``add_implicit_devices``: the console compat (console 0 of an HVM guest
   aliases serial 0), a virtio-serial controller for virtio consoles and
   channels, one video for graphics without video; then the first video is the
   primary one;
4. ``graphics_defaults``: the ``<listen>`` parsed from ``<graphics>``'s
   attributes, vnc's port/autoport, spice without ports listening nowhere.

``console_view`` is the formatting side: libvirt writes console N of an HVM
guest whose target type is serial as a copy of serial N.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

from virtkit.conf.dev_chr import ChrDevice, ChrTarget, Console, Serial
from virtkit.conf.dev_graphics import Graphics, GraphicsListen, Video, VideoModel
from virtkit.conf.dev_misc import Controller
from virtkit.conf.devices import Devices
from virtkit.conf.domain import DomainDef
from virtkit.errors import ErrorCode, ErrorDomain, make_error

# The default model type of a video device for ``d`` (None: leave it unset).
VideoTypeDefault = Callable[[DomainDef], str | None]

MAX_ISA_SERIAL_PORTS = 4
# Serial target types for which libvirt adds a console alias of serial 0.
_CONSOLE_CAPABLE_SERIAL_TARGETS = frozenset({
    None, "none", "isa-serial", "spapr-vio-serial", "system-serial", "sclp-serial",
})
_X86_ARCHES = frozenset({"i686", "x86_64"})


# ----------------------------------------------------------------------------- chardevs


def _port(chr_dev: ChrDevice) -> int:
    """The target port as libvirt holds it (-1: not given, or not a number)."""
    target = chr_dev.target
    if target is None or target.port is None:
        return -1
    try:
        return int(target.port.strip(), 10)
    except ValueError:
        return -1


def _set_port(chr_dev: ChrDevice, port: int) -> None:
    if chr_dev.target is None:
        chr_dev.target = ChrTarget()
    chr_dev.target.port = str(port)


def _target_type(chr_dev: ChrDevice) -> str | None:
    return chr_dev.target.type if chr_dev.target is not None else None


def chr_defaults(d: DomainDef, devices: Devices) -> None:
    """ISA serial ports, console target types and ports, serial/parallel ports."""
    for group in (devices.serials, devices.parallels, devices.consoles, devices.channels):
        for chr_dev in group:
            if chr_dev.type is None:
                chr_dev.type = "pty"
    _isa_serial_ports(devices)
    arch = d.os.type.arch if d.os is not None and d.os.type is not None else None
    for serial in devices.serials:
        if _target_type(serial) == "isa-debug" and arch not in _X86_ARCHES:
            raise make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.DOMAIN,
                             "isa-debug serial type only valid on x86 architecture")
    for group in (devices.serials, devices.parallels):
        _assign_ports(group)
    for i, console in enumerate(devices.consoles):
        # The parser numbers consoles by position, whatever port the XML gave.
        _set_port(console, i)
        assert console.target is not None
        if console.target.type is None:
            console.target.type = "serial"


def _isa_serial_ports(devices: Devices) -> None:
    used: set[int] = set()
    isa = [s for s in devices.serials if _target_type(s) == "isa-serial"]
    for count, serial in enumerate(isa, 1):
        port = _port(serial)
        if count > MAX_ISA_SERIAL_PORTS or port >= MAX_ISA_SERIAL_PORTS:
            raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.DOMAIN,
                             "Maximum supported number of ISA serial ports is "
                             f"'{MAX_ISA_SERIAL_PORTS}'")
        if port != -1:
            if port in used:
                raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.DOMAIN,
                                 f"target port '{port}' already allocated")
            used.add(port)
    for serial in isa:
        if _port(serial) == -1:
            free = min(set(range(MAX_ISA_SERIAL_PORTS)) - used)
            _set_port(serial, free)
            used.add(free)


def _assign_ports(group: Sequence[ChrDevice]) -> None:
    for chr_dev in group:
        if _port(chr_dev) == -1:
            # One past the highest port in the whole list (later entries included).
            _set_port(chr_dev, max((_port(c) for c in group), default=-1) + 1)


def sources_equal(a: ChrDevice, b: ChrDevice) -> bool:
    """virDomainChrSourceDefIsEqual: same backend type and the same source settings."""
    if (a.type or "pty") != (b.type or "pty"):
        return False
    if (a.type or "pty") in ("null", "vc", "stdio"):
        return True
    proto_a = a.protocol.type if a.protocol is not None else None
    proto_b = b.protocol.type if b.protocol is not None else None
    if proto_a != proto_b:
        return False
    return [s.to_xml() for s in a.sources] == [s.to_xml() for s in b.sources]


def _console_alias(serial: Serial) -> Console:
    """A console that is serial's alias: its backend, ``<target type='serial'>``."""
    console = Console()
    for f in Serial._vk_fields:
        setattr(console, f.name, copy.deepcopy(getattr(serial, f.name)))
    console.unknown_attrs = list(serial.unknown_attrs)
    console.unknown_children = copy.deepcopy(serial.unknown_children)
    console.target = ChrTarget(type="serial", port=str(max(_port(serial), 0)))
    return console


def _console_to_serial(console: Console) -> Serial:
    serial = Serial()
    for f in Console._vk_fields:
        setattr(serial, f.name, copy.deepcopy(getattr(console, f.name)))
    serial.unknown_attrs = list(console.unknown_attrs)
    serial.unknown_children = copy.deepcopy(console.unknown_children)
    serial.target = ChrTarget(port="0")
    return serial


def console_compat(d: DomainDef, devices: Devices) -> None:
    """virDomainDefAddConsoleCompat: console 0 of an HVM guest is serial 0's alias."""
    consoles, serials = devices.consoles, devices.serials
    for console in consoles[1:]:
        if _target_type(console) == "serial":
            raise make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.DOMAIN,
                             "Only the first console can be a serial port")
    hvm = d.os_type == "hvm"
    if consoles and hvm and _target_type(consoles[0]) in ("serial", "none"):
        if not serials:
            serials.append(_console_to_serial(consoles[0]))
            consoles[0] = _console_alias(serials[0])
        elif not sources_equal(serials[0], consoles[0]):
            consoles[0] = _console_alias(serials[0])
    elif hvm and serials and _target_type(serials[0]) in _CONSOLE_CAPABLE_SERIAL_TARGETS:
        consoles.insert(0, _console_alias(serials[0]))


def console_view(d: DomainDef) -> list[Console] | None:
    """The consoles as libvirt writes them, or None when they are written as held.

    Console N of an HVM guest whose target type is serial is written from serial N
    (its backend, alias and address) with ``<target type='serial' port=P/>``.
    """
    devices = d.devices
    if devices is None or d.os_type != "hvm":
        return None
    changed = False
    view: list[Console] = []
    for n, console in enumerate(devices.consoles):
        if _target_type(console) in ("serial", "none") and n < len(devices.serials):
            view.append(_console_alias(devices.serials[n]))
            changed = True
        else:
            view.append(console)
    return view if changed else None


def insert_controller(devices: Devices, controller: Controller) -> None:
    """virDomainControllerInsert: after the controllers of its type with a lower index,
    before the first with a higher one (a new type goes last)."""
    index = _int(controller.index)
    insert_at = -1
    for pos in range(len(devices.controllers) - 1, -1, -1):
        current = devices.controllers[pos]
        if current.type != controller.type:
            continue
        current_index = _int(current.index)
        if index is not None and current_index is not None and current_index > index:
            insert_at = pos
        elif insert_at == -1:
            insert_at = pos + 1
    if insert_at == -1:
        devices.controllers.append(controller)
    else:
        devices.controllers.insert(insert_at, controller)


def parse_order(controllers: list[Controller]) -> list[Controller]:
    """The controllers in the order libvirt's parser keeps them
    (virDomainControllerInsertPreAlloced for each, in document order): by index within a
    type, a USB master before its companions of the same index, a type where it first
    appeared. Address assignment walks them in this order."""
    ordered: list[Controller] = []
    for new in controllers:
        index = _int(new.index)
        insert_at = -1
        for pos in range(len(ordered) - 1, -1, -1):
            current = ordered[pos]
            if current.type != new.type:
                continue
            if index is None:
                insert_at = pos + 1
                break
            current_index = _int(current.index)
            if current_index is not None and current_index > index:
                insert_at = pos
            elif new.master is None and current.master is not None \
                    and current_index == index:
                insert_at = pos  # a master goes before its companions
            elif insert_at == -1:
                insert_at = pos + 1
        if insert_at == -1:
            ordered.append(new)
        else:
            ordered.insert(insert_at, new)
    return ordered


# (controller type, disk bus) in virDomainDefAddImplicitControllers' order
_DISK_CONTROLLERS = (("scsi", "scsi"), ("fdc", "fdc"), ("ide", "ide"), ("sata", "sata"))


def add_disk_controllers(devices: Devices) -> None:
    """virDomainDefAddDiskControllersForType: controllers 0..N for the highest drive
    controller number disks of each bus use."""
    for ctype, bus in _DISK_CONTROLLERS:
        highest = -1
        for disk in devices.disks:
            addr = disk.address
            if (disk.target is None or disk.target.bus != bus or addr is None
                    or addr.type != "drive"):
                continue
            highest = max(highest, _int(addr.controller) or 0)
        for index in range(highest + 1):
            if not any(c.type == ctype and _int(c.index) == index
                       for c in devices.controllers):
                insert_controller(devices, Controller(type=ctype, index=str(index)))


def add_virtio_serial_controllers(devices: Devices) -> None:
    """virDomainDefMaybeAddVirtioSerialController: one per index virtio chardevs use."""
    for chr_dev in [*devices.channels, *devices.consoles]:
        if _target_type(chr_dev) != "virtio":
            continue
        index = 0
        addr = chr_dev.address
        if addr is not None and addr.type == "virtio-serial" and addr.controller is not None:
            try:
                index = int(addr.controller, 0)
            except ValueError:
                index = 0
        if not any(c.type == "virtio-serial" and _int(c.index) == index
                   for c in devices.controllers):
            insert_controller(devices, Controller(type="virtio-serial", index=str(index)))


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        return None


# ----------------------------------------------------------------------------- video


def order_videos(devices: Devices) -> None:
    """The parser puts each video with ``primary='yes'`` first (the last one wins)."""
    ordered: list[Video] = []
    for video in devices.videos:
        if video.model is not None and video.model.primary == "yes":
            ordered.insert(0, video)
        else:
            ordered.append(video)
    devices.videos[:] = ordered


def default_video_ram(d: DomainDef, vtype: str | None) -> int:
    """virDomainVideoDefaultRAM, in KiB (0: none)."""
    if vtype in ("vga", "cirrus", "vmvga"):
        if d.type == "vbox":
            return 8 * 1024
        if d.type == "vmware":
            return 4 * 1024
        return 16 * 1024
    return {"bochs": 16 * 1024, "xen": 4 * 1024, "qxl": 64 * 1024}.get(vtype or "", 0)


def _round_pow2(value: int) -> int:
    return 0 if value <= 0 else 1 << (value - 1).bit_length()


def _uint(value: str | None) -> int | None:
    """An unsigned attribute (0 when absent, None when not a number)."""
    if value is None:
        return 0
    try:
        number = int(value.strip(), 10)
    except ValueError:
        return None
    return number if number >= 0 else None


def video_device_defaults(d: DomainDef, video: Video, default_type: VideoTypeDefault) -> None:
    """The driver's default type, then virDomainVideoDefPostParse (ram/vram)."""
    if video.model is None:
        video.model = VideoModel()
    m = video.model
    if m.type is None:
        m.type = default_type(d)
    ram, vram = _uint(m.ram), _uint(m.vram)
    if ram is not None:
        if ram == 0 and m.type == "qxl":
            ram = default_video_ram(d, m.type)
        ram = _round_pow2(ram)
        m.ram = str(ram) if ram else None
    if vram is not None:
        if vram == 0:
            vram = default_video_ram(d, m.type)
        vram = _round_pow2(vram)
        m.vram = str(vram) if vram else None
    # Only the first video is primary; libvirt writes primary='yes' or nothing.
    m.primary = None


def video_defaults(d: DomainDef, devices: Devices, default_type: VideoTypeDefault) -> None:
    """Per-device video post-parse for every video."""
    for video in devices.videos:
        if video.model is None:
            video.model = VideoModel()
        if video.model.heads is None:
            video.model.heads = "1"
        elif _uint(video.model.heads) == 0:
            video.model.heads = None  # libvirt writes heads only when non-zero
        video_device_defaults(d, video, default_type)


def add_implicit_video(devices: Devices) -> bool:
    """virDomainDefAddImplicitVideo: graphics without video get one default video."""
    if not devices.graphics or devices.videos:
        return False
    devices.videos.append(Video(model=VideoModel(heads="1")))
    return True


def primary_video(d: DomainDef, devices: Devices, default_type: VideoTypeDefault) -> None:
    """virDomainDefPostParseVideo: video 0 is the primary one (or a bare 'none')."""
    if not devices.videos:
        return
    first = devices.videos[0]
    if first.model is not None and first.model.type == "none":
        devices.videos[0] = Video(model=VideoModel(type="none"), alias=first.alias)
        return
    video_device_defaults(d, first, default_type)
    assert first.model is not None
    first.model.primary = "yes"


# ----------------------------------------------------------------------------- graphics


def graphics_listen_defaults(devices: Devices, *, live: bool = False) -> None:
    """What libvirt's graphics parser derives: a ``<listen>``, vnc's and spice's
    port/autoport (``live``: without VIR_DOMAIN_DEF_PARSE_INACTIVE, allocated ports stay)."""
    for g in devices.graphics:
        if g.type not in ("vnc", "rdp", "spice"):
            continue
        if not g.listens:
            if g.type == "vnc" and g.socket is not None:
                g.listens.append(GraphicsListen(type="socket", socket=g.socket))
            else:
                g.listens.append(GraphicsListen(type="address", address=g.listen or None))
        first = g.listens[0]
        if first.type == "socket" and g.type == "vnc" and g.socket is None:
            g.socket = first.socket
        if first.type == "address" and first.address and g.listen is None:
            g.listen = first.address
        if g.type == "vnc" and first.type in ("address", "network"):
            if not (live and _uint(g.port) not in (None, 0)):
                _vnc_ports(g)
        elif g.type == "spice":
            _spice_ports(g, live)
        elif g.type == "rdp":
            _rdp_ports(g)


def _vnc_ports(g: Graphics) -> None:
    # As a definition is parsed (VIR_DOMAIN_DEF_PARSE_INACTIVE): no port, or port
    # '-1', means autoport; an autoport vnc is written with port='-1'.
    auto = g.port is None or g.port.strip() == "-1"
    if g.autoport is not None:
        auto = g.autoport == "yes"
    if auto:
        g.port = "-1"
    elif g.port is not None and g.port.strip() in ("-1", "0"):
        g.port = None
    g.autoport = "yes" if auto else "no"


def _spice_ports(g: Graphics, live: bool) -> None:
    # virDomainGraphicsDefParseXMLSpice: port and tlsPort -1 is the legacy autoport; a
    # definition's autoport display keeps no port (written without port/tlsPort)
    if g.port is not None and g.port.strip() == "-1" \
            and g.tlsPort is not None and g.tlsPort.strip() == "-1":
        g.autoport = "yes"
    if g.autoport == "yes" and not live:
        g.port = g.tlsPort = None


def _rdp_ports(g: Graphics) -> None:
    auto = g.port is None or g.port.strip() == "-1" or g.autoport == "yes"
    if auto:
        g.port, g.autoport = "0", "yes"
    else:
        g.autoport = None
        if _uint(g.port) == 0:
            g.port = None


def spice_listen_none(devices: Devices) -> None:
    """virDomainDefPostParseGraphics: spice without ports and autoport listens nowhere."""
    for g in devices.graphics:
        if g.type != "spice" or not g.listens:
            continue
        first = g.listens[0]
        if (first.type == "address" and _uint(g.port) in (0, None)
                and _uint(g.tlsPort) in (0, None) and g.autoport != "yes"):
            first.type = "none"
            first.address = None
            g.listen = None
        elif first.type in ("address", "network") and g.autoport is None:
            g.autoport = "no"


# ----------------------------------------------------------------------------- order


def device_defaults(d: DomainDef, devices: Devices, default_video_type: VideoTypeDefault,
                    *, live: bool = False) -> None:
    """Parse-time and per-device defaults (before the implied devices are added)."""
    order_videos(devices)
    graphics_listen_defaults(devices, live=live)
    chr_defaults(d, devices)
    video_defaults(d, devices, default_video_type)


def add_implicit_devices(d: DomainDef, devices: Devices,
                         default_video_type: VideoTypeDefault) -> None:
    """virDomainDefAddImplicitDevices and what post-parse does right after it."""
    console_compat(d, devices)
    add_disk_controllers(devices)
    add_virtio_serial_controllers(devices)
    add_implicit_video(devices)
    primary_video(d, devices, default_video_type)
    spice_listen_none(devices)


__all__ = [
    "MAX_ISA_SERIAL_PORTS", "VideoTypeDefault", "add_implicit_devices", "chr_defaults",
    "console_compat", "console_view", "default_video_ram", "device_defaults",
    "graphics_listen_defaults", "parse_order", "sources_equal",
]
