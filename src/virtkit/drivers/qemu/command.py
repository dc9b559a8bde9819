"""Domain definition -> QEMU command line (x86_64, machine types pc and q35).

``build(defn, ctx)`` returns a ``Command``: the argument vector plus what the
driver needs afterwards to talk QMP about the devices (aliases, block node
names, chardev and netdev ids). ``build_command`` is the thin list-only form.

The syntax is the one libvirt 9.0 uses for QEMU 7.2 (``-blockdev``/``-device``/
``-netdev`` as JSON, ``-accel``, ``-chardev socket`` + ``-mon`` for QMP);
argument order follows libvirt's. The per-device dictionaries come from the
public ``*_args`` functions, which the driver reuses as the arguments of QMP
``blockdev-add`` / ``device_add`` / ``netdev_add`` for hot-plug.

Anything in the definition this module does not turn into arguments is
refused with VIR_ERR_CONFIG_UNSUPPORTED naming the element or attribute
(``check_supported``), never silently dropped.

``build`` fills in, like libvirt's QEMU driver does for the live XML:
device aliases (``<alias name=...>``), drive addresses of ide/sata/scsi disks,
PCI addresses of devices without one (on the root bus), implicit controllers,
the memballoon, generated MAC addresses, ``<source index>`` of disks, paths of
auto-generated sockets (VNC, unix channels) and the NVRAM path. Run it on the
live copy of the definition.

Choices worth knowing:

- ``-no-shutdown`` unless ``on_reboot`` is ``destroy`` (then ``-no-reboot``):
  a guest power-off becomes a SHUTDOWN event and QEMU stops instead of
  exiting, so the driver applies ``on_poweroff`` (destroy: quit QEMU; restart:
  ``system_reset`` + ``cont``) and sees the shutdown reason before QEMU exits.
- ``host-model`` is ``-cpu host,migratable=on`` with KVM and ``-cpu max`` with
  TCG (libvirt expands it to a named model from the host's CPUID; we do not
  probe that).
- Devices without a PCI address get one on the root bus (slot 2 is kept for
  the primary video on pc, slot 1 on q35, as libvirt does). On q35 the root
  bus (pcie.0) does not hot-plug: declare ``pcie-root-port`` controllers for
  hot-plug, ``free_hotplug_address`` then picks a free one.
- Memory is rounded up to whole MiB (libvirt's x86 alignment).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from virtkit.conf.cpu import CpuDef, CpuFeature, CpuModel, CpuTopology
from virtkit.conf.dev_chr import (
    ChrDevice,
    ChrLog,
    ChrSource,
    ChrTarget,
    ChrTargetModel,
    Redirdev,
    Rng,
    RngBackend,
    RngRate,
)
from virtkit.conf.dev_common import Address, Alias, Boot, Cipher, Encryption, Master, Secret
from virtkit.conf.dev_disk import BackingStore, Disk, DiskDriver, DiskSource, DiskTarget
from virtkit.conf.dev_graphics import (
    Audio,
    Compression,
    FileTransfer,
    Graphics,
    GraphicsClipboard,
    GraphicsGL,
    GraphicsListen,
    Input,
    ModeRef,
    Sound,
    SoundCodec,
    SpiceChannel,
    Video,
    VideoModel,
)
from virtkit.conf.dev_misc import (
    BalloonStats,
    Controller,
    ControllerModel,
    ControllerTarget,
    MemBalloon,
    Panic,
    RedirFilter,
    RedirFilterUsbDev,
    Watchdog,
)
from virtkit.conf.dev_net import (
    FilterRef,
    Interface,
    InterfaceModel,
    InterfaceSource,
    InterfaceTarget,
    Link,
    Mac,
)
from virtkit.conf.devices import Devices
from virtkit.conf.domain import DomainDef
from virtkit.conf.domain_features import (
    Apic,
    Feature,
    Features,
    Hyperv,
    HypervFeature,
    Smm,
    StimerDirect,
)
from virtkit.conf.domain_implicit import parse_order
from virtkit.conf.domain_memory import CurrentMemory, MaxMemory, ScaledMemory
from virtkit.conf.domain_os import (
    BootDev,
    BootMenu,
    FirmwareFeature,
    Loader,
    OsDef,
    OsFirmware,
    OsType,
)
from virtkit.conf.domain_os import Nvram as OsNvram
from virtkit.conf.domain_postparse import disk_bus_for_target
from virtkit.conf.domain_runtime import Clock, Pm, PmState, Timer
from virtkit.conf.domain_security import SecLabel
from virtkit.conf.domain_tuning import Vcpu
from virtkit.conf.model import XmlModel
from virtkit.conf.netdev import Bandwidth, BandwidthRate, Mtu
from virtkit.constants import SecretUsageType
from virtkit.drivers import netbandwidth
from virtkit.drivers.links import SecretValues
from virtkit.drivers.qemu import (
    command_hyperv,
    command_sound,
    command_spice,
    command_usbredir,
    diskfds,
    usbaddr,
)
from virtkit.drivers.qemu.qemucaps import QemuCaps
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = [
    "CHARDEV_TYPES",
    "GRAPHICS_TYPES",
    "Command",
    "CommandContext",
    "DiskNodes",
    "build",
    "build_command",
    "check_supported",
    "device_kinds",
    "disk_blockdev_args",
    "disk_device_args",
    "disk_encryption",
    "disk_source",
    "free_hotplug_address",
    "json_arg",
    "machine_family",
    "net_device_args",
    "net_netdev_args",
    "opt_escape",
    "video_types",
]


# ============================================================================ context & result


@dataclass(frozen=True)
class CommandContext:
    """Host-side facts and per-run paths ``build`` needs besides the definition."""

    emulator: str  # qemu-system-x86_64 (from <emulator> or qemucaps.find_emulator())
    qmp_socket: str  # per-domain QMP unix socket; QEMU listens (server=on,wait=off)
    pid_file: str
    log_file: str  # QEMU's stderr/stdout go there (the caller redirects); not an argument
    runtime_dir: str  # per-domain directory for auto-generated sockets
    kvm_available: bool  # /dev/kvm openable
    start_paused: bool = False  # -S
    incoming: str | None = None  # -incoming ("defer" or a URI) for restore / migration
    ovmf_code: str | None = None  # firmware='efi' without a <loader> path
    ovmf_vars_template: str | None = None
    nvram_path: str | None = None  # per-domain NVRAM copy when the def names none
    caps: QemuCaps | None = None  # when given: machine types and device models are checked
    # <disk type='volume'> sources, translated by the storage driver: (pool, volume) ->
    # ("file" or "block", path)
    volumes: Mapping[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    # the secret driver of the root: passphrases of <encryption format='luks'> disks. None
    # leaves their secret objects out: a re-attach rebuilds only the names (a start
    # without it fails in QEMU: "No secret with id ...")
    secrets: SecretValues | None = None
    # qemu.conf's SPICE settings (spice_tls, spice_listen, ...): libvirt's defaults
    spice: command_spice.SpiceConfig = field(default_factory=command_spice.SpiceConfig)
    # <source fdgroup> disks' fd sets by <target dev> (diskfds.prepare); None: names only
    # (a re-attach), the disks open libvirt's placeholder path
    fdsets: Mapping[str, diskfds.DiskFDSet] | None = None


@dataclass(frozen=True)
class DiskNodes:
    """How QEMU knows one disk: qdev id and block node names (None: empty cdrom)."""

    alias: str  # the device id (virtio-disk0, sata0-0-0, ...); QMP's "qdev"
    target: str  # <target dev>
    storage_node: str | None
    format_node: str | None


@dataclass
class Command:
    """A built command line and the names the driver needs for QMP."""

    argv: list[str]
    machine: str  # the machine type as given (pc, q35, pc-q35-7.2, ...)
    family: str  # "pc" or "q35"
    accel: str  # "kvm" or "tcg"
    # device alias -> the definition's device object
    aliases: dict[str, XmlModel] = field(default_factory=dict)
    # <target dev> -> node names
    disks: dict[str, DiskNodes] = field(default_factory=dict)
    # device alias (serial0, console1, channel0) -> chardev id (charserial0, ...)
    chardevs: dict[str, str] = field(default_factory=dict)
    # interface alias (net0) -> netdev id (hostnet0)
    netdevs: dict[str, str] = field(default_factory=dict)


# ============================================================================ small helpers


def _unsupported(detail: str) -> VirtError:
    return make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.QEMU, detail)


def _internal(detail: str) -> VirtError:
    return make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.QEMU, detail)


def opt_escape(value: str) -> str:
    """Escape a value for QEMU's ``key=value,...`` option syntax (commas are doubled)."""
    return value.replace(",", ",,")


def json_arg(props: dict[str, Any]) -> str:
    """A JSON object argument as QEMU takes it for -device/-blockdev/-netdev/-object."""
    return json.dumps(props, separators=(",", ":"))


def _int(value: str | None, what: str) -> int:
    try:
        return int(str(value), 0)
    except ValueError:
        raise _unsupported(f"invalid {what} '{value}'") from None


def _yes(value: str | None) -> bool:
    return value in ("yes", "on")


def machine_family(machine: str) -> str:
    """``"pc"`` or ``"q35"`` for a machine type name (canonical or alias); refuses others."""
    if machine == "q35" or machine.startswith("pc-q35-"):
        return "q35"
    if machine == "pc" or machine.startswith(("pc-i440fx-", "pc-")):
        return "pc"
    raise _unsupported(f"machine type '{machine}' is not supported by the qemu driver "
                       "(only pc and q35 machine types are)")


def _root_bus(family: str) -> str:
    return "pcie.0" if family == "q35" else "pci.0"


def _pci_bus_name(addr: Address, family: str) -> str:
    bus = _int(addr.bus or "0", "PCI bus")
    return _root_bus(family) if bus == 0 else f"pci.{bus}"


def _pci_props(addr: Address | None, family: str) -> dict[str, Any]:
    """``bus``/``addr`` (and ``multifunction``) properties of a PCI address, or nothing."""
    if addr is None or addr.type is None:
        return {}
    if addr.type != "pci":
        raise _unsupported(f"address type '{addr.type}' is not supported for this device")
    if _int(addr.domain or "0", "PCI domain") != 0:
        raise _unsupported("PCI domains other than 0 are not supported")
    slot = _int(addr.slot or "0", "PCI slot")
    func = _int(addr.function or "0", "PCI function")
    props: dict[str, Any] = {"bus": _pci_bus_name(addr, family)}
    if addr.multifunction == "on":
        props["multifunction"] = True
    props["addr"] = f"0x{slot:x}" if func == 0 else f"0x{slot:x}.0x{func:x}"
    return props


def _pci_address(slot: int, function: int = 0, bus: int = 0) -> Address:
    addr = Address()
    addr.type = "pci"
    addr.domain = "0x0000"
    addr.bus = f"0x{bus:02x}"
    addr.slot = f"0x{slot:02x}"
    addr.function = f"0x{function:x}"
    return addr


def _set_alias(dev: Any, name: str) -> str:
    """Give ``dev`` the alias ``name`` unless it has one; return the alias in effect."""
    if dev.alias is None or not dev.alias.name:
        alias = Alias()
        alias.name = name
        dev.alias = alias
    return str(dev.alias.name)


def _disk_index(dev: str) -> int:
    """libvirt's virDiskNameToIndex: ``vda`` -> 0, ``sdb`` -> 1, ``hdaa`` -> 26."""
    for prefix in ("fd", "hd", "vd", "sd", "xvd", "ubd"):
        if dev.startswith(prefix):
            letters = dev[len(prefix):]
            break
    else:
        raise _unsupported(f"invalid disk target name '{dev}'")
    if not letters or not letters.isalpha() or not letters.islower():
        raise _unsupported(f"invalid disk target name '{dev}'")
    idx = 0
    for ch in letters:
        idx = idx * 26 + (ord(ch) - ord("a") + 1)
    return idx - 1


# ============================================================================ what is supported

_ALL = None  # every field of the model is understood (values are checked where used)

_ALLOWED: dict[type[XmlModel], frozenset[str] | None] = {
    DomainDef: frozenset({
        "type", "id", "name", "uuid", "title", "description", "metadata", "memory",
        "current_memory", "max_memory", "vcpu", "os", "features", "cpu", "clock",
        "on_poweroff", "on_reboot", "on_crash", "pm", "devices", "seclabels",
    }),
    ScaledMemory: frozenset({"unit", "value"}),
    CurrentMemory: frozenset({"unit", "value"}),
    MaxMemory: frozenset({"unit", "value", "slots"}),
    Vcpu: frozenset({"placement", "current", "count"}),
    OsDef: frozenset({"firmware", "type", "firmware_features", "loader", "nvram", "kernel",
                      "initrd", "cmdline", "boot", "bootmenu"}),
    OsType: _ALL,
    OsFirmware: _ALL,
    FirmwareFeature: _ALL,
    Loader: frozenset({"readonly", "secure", "type", "path"}),
    OsNvram: frozenset({"template", "path"}),
    BootDev: _ALL,
    BootMenu: _ALL,
    Features: frozenset({"acpi", "apic", "pae", "vmport", "smm", "hyperv"}),
    Hyperv: frozenset({"mode", *command_hyperv.ENLIGHTENMENTS}),
    HypervFeature: _ALL,
    StimerDirect: _ALL,
    Feature: _ALL,
    Apic: frozenset(),
    Smm: frozenset({"state"}),
    CpuDef: frozenset({"mode", "match", "check", "migratable", "model", "topology",
                       "features"}),
    CpuModel: _ALL,
    CpuTopology: _ALL,
    CpuFeature: _ALL,
    Clock: frozenset({"offset", "timers"}),
    Timer: frozenset({"name", "present", "tickpolicy"}),
    Pm: _ALL,
    PmState: _ALL,
    SecLabel: frozenset({"type"}),
    Devices: frozenset({"emulator", "disks", "controllers", "interfaces", "serials",
                        "consoles", "channels", "inputs", "graphics", "videos", "watchdog",
                        "memballoon", "rngs", "panics", "audios", "sounds", "redirdevs",
                        "redirfilter"}),
    Audio: frozenset({"id", "type"}),
    Sound: frozenset({"model", "codecs", "alias", "address"}),
    SoundCodec: _ALL,
    Redirdev: frozenset({"bus", "type", "sources", "boot", "alias", "address"}),
    RedirFilter: _ALL,
    RedirFilterUsbDev: _ALL,
    Disk: frozenset({"type", "device", "driver", "source", "backing_store", "target",
                     "readonly", "shareable", "serial", "boot", "alias", "address",
                     "encryption"}),
    DiskDriver: frozenset({"name", "type", "cache", "io", "discard"}),
    DiskSource: frozenset({"file", "fdgroup", "dev", "index", "pool", "volume",
                           "encryption"}),
    # LUKS (checked by _check_encryption; <cipher> is read only to refuse it as libvirt)
    Encryption: frozenset({"format", "engine", "secrets", "cipher"}),
    Cipher: _ALL,
    Secret: frozenset({"type", "uuid", "usage"}),
    DiskTarget: frozenset({"dev", "bus", "tray"}),
    BackingStore: frozenset(),  # only the empty terminator <backingStore/>
    Boot: frozenset({"order"}),
    Alias: _ALL,
    Address: _ALL,
    Controller: frozenset({"type", "index", "model", "ports", "model_name", "target",
                           "alias", "address", "master"}),
    Master: frozenset({"startport"}),
    ControllerModel: _ALL,
    ControllerTarget: frozenset({"chassis", "port"}),
    Interface: frozenset({"type", "mac", "source", "target", "model", "boot", "alias",
                          "address", "mtu", "filterref", "link", "bandwidth"}),
    Link: frozenset({"state"}),  # set with QMP set_link before the CPUs start
    # tc on the host side of the tap (drivers/netbandwidth.py); checked in _check_bandwidth
    Bandwidth: frozenset({"classID", "inbound", "outbound"}),
    BandwidthRate: _ALL,
    FilterRef: _ALL,  # instantiated on the tap by the nwfilter driver, not by QEMU
    Mtu: frozenset({"size"}),
    Mac: frozenset({"address"}),
    InterfaceSource: frozenset({"network", "bridge", "portid"}),
    InterfaceTarget: frozenset({"dev", "managed"}),
    InterfaceModel: _ALL,
    ChrDevice: frozenset({"type", "tty", "sources", "log", "target", "alias", "address"}),
    ChrSource: frozenset({"mode", "path", "append"}),
    ChrLog: _ALL,
    ChrTarget: frozenset({"type", "port", "name", "state", "model"}),
    ChrTargetModel: _ALL,
    Input: frozenset({"type", "bus", "alias", "address"}),
    # SPICE's own attributes and children are checked for VNC in graphics()
    Graphics: frozenset({"type", "port", "autoport", "listen", "socket", "listens", "tlsPort",
                         "passwd", "passwdValidTo", "connected", "keymap", "defaultMode",
                         "channels", "image", "jpeg", "zlib", "playback", "streaming",
                         "mouse", "clipboard", "filetransfer", "gl"}),
    GraphicsGL: frozenset({"enable", "rendernode"}),
    # <listen network>: its address comes from the network driver at start (node.py)
    GraphicsListen: frozenset({"type", "address", "network", "socket", "autoGenerated",
                               "fromConfig"}),
    SpiceChannel: _ALL,
    Compression: _ALL,
    ModeRef: _ALL,
    GraphicsClipboard: _ALL,
    FileTransfer: _ALL,
    Video: frozenset({"model", "alias", "address"}),
    VideoModel: frozenset({"type", "ram", "vram", "vram64", "vgamem", "heads", "primary"}),
    Watchdog: frozenset({"model", "action", "alias", "address"}),
    MemBalloon: frozenset({"model", "stats", "alias", "address"}),
    BalloonStats: _ALL,
    Rng: frozenset({"model", "rate", "backend", "alias", "address"}),
    RngRate: _ALL,
    RngBackend: frozenset({"model", "path"}),
    Panic: frozenset({"model", "alias", "address"}),
}


# What the builder turns into QEMU arguments, for domain capabilities (domcaps.py): a
# client is offered only what define and start accept.
GRAPHICS_TYPES = frozenset({"vnc", "spice"})
CHARDEV_TYPES = frozenset({"pty", "null", "file", "unix", "spicevmc"})


def device_kinds() -> frozenset[str]:
    """The ``<devices>`` children (their model field names) the builder handles."""
    kinds = _ALLOWED[Devices]
    assert kinds is not None
    return kinds


def video_types() -> frozenset[str]:
    """The ``<video><model type>`` values the builder handles as the first video."""
    return frozenset(_VIDEO_PRIMARY) | {"none"}


def _is_set(kind: str, value: Any) -> bool:
    if kind in ("children", "text_children", "raws"):
        return bool(value)
    if kind == "flag":
        return bool(value)
    return value is not None


# what VNC graphics take of <graphics> (the rest is SPICE's)
_VNC_GRAPHICS = frozenset({"type", "port", "autoport", "listen", "socket", "listens", "passwd",
                           "passwdValidTo", "connected"})


def _allowed_for(obj: XmlModel) -> frozenset[str] | None:
    if isinstance(obj, Graphics) and obj.type != "spice":
        return _VNC_GRAPHICS
    for klass in type(obj).__mro__:
        if klass in _ALLOWED:
            return _ALLOWED[klass]
    raise _unsupported(f"element <{obj.TAG}> is not supported by the qemu driver")


def check_supported(obj: XmlModel, path: str = "",
                    spice: command_spice.SpiceConfig | None = None) -> None:
    """Raise VIR_ERR_CONFIG_UNSUPPORTED naming the first element or attribute of ``obj``
    (recursively) that the command-line builder does not handle (``spice``: qemu.conf's
    SPICE settings, libvirt's defaults when not given)."""
    here = f"{path}/{obj.TAG}" if path else obj.TAG
    if obj.unknown_attrs:
        name = obj.unknown_attrs[0][0]
        raise _unsupported(f"attribute '{name}' of <{here}> is not supported by the qemu driver")
    if obj.unknown_children:
        tag = obj.unknown_children[0][1].tag
        raise _unsupported(f"element <{here}/{tag}> is not supported by the qemu driver")
    allowed = _allowed_for(obj)
    compiled = obj._compiled
    for fname, xml_name, _conv in compiled.attr_order:
        if getattr(obj, fname) is not None and allowed is not None and fname not in allowed:
            raise _unsupported(
                f"attribute '{xml_name}' of <{here}> is not supported by the qemu driver")
    for fname, spec in compiled.child_order:
        value = getattr(obj, fname)
        if not _is_set(spec.kind, value):
            continue
        if allowed is not None and fname not in allowed:
            raise _unsupported(
                f"element <{here}/{spec.xml}> is not supported by the qemu driver")
        if spec.kind == "child":
            check_supported(value, here, spice)
        elif spec.kind == "children":
            for item in value:
                check_supported(item, here, spice)
    if isinstance(obj, Graphics) and obj.type == "spice":
        command_spice.validate(obj, spice or command_spice.SpiceConfig())
    elif isinstance(obj, Graphics) and obj.type == "vnc":
        command_spice.validate_vnc(obj)
    elif isinstance(obj, Hyperv):
        command_hyperv.check(obj)
    elif isinstance(obj, Interface) and obj.bandwidth is not None:
        _check_bandwidth(obj)
    elif isinstance(obj, DomainDef) and obj.devices is not None:
        _check_devices(obj.devices)


def _check_bandwidth(iface: Interface) -> None:
    """virNetDevBandwidthParse's checks (floor only on type 'network'); QoS is set with tc
    on a tap, so only the tap types take it."""
    netbandwidth.parse(iface.bandwidth, allow_floor=iface.type == "network")
    if not netbandwidth.supports_bandwidth(iface.type) or iface.type == "direct":
        raise _unsupported(f"element <bandwidth> of interface type '{iface.type}' is not "
                           "supported by the qemu driver")


def _check_devices(dev: Devices) -> None:
    """Whole-domain rules for SPICE's companions (libvirt's validators)."""
    spice = any(g.type == "spice" for g in dev.graphics)
    chr_devs: list[ChrDevice | Redirdev] = [*dev.serials, *dev.consoles, *dev.channels,
                                             *dev.redirdevs]
    for chr_dev in chr_devs:
        if chr_dev.type == "spicevmc" and not spice:
            raise _unsupported("chardev 'spicevmc' not supported without spice graphics")
    for ch in dev.channels:
        name = ch.target.name if ch.target is not None else None
        if ch.type == "spicevmc" and name not in (None, command_usbredir.SPICE_AGENT_CHANNEL):
            raise _unsupported(f"Unsupported spicevmc target name '{name}'")
    for chr_dev in (*dev.serials, *dev.consoles):
        if chr_dev.type == "spicevmc":
            raise _unsupported("character device type 'spicevmc' is not supported")
    usb = [c for c in dev.controllers if c.type == "usb"]
    usb_off = bool(usb) and all(c.model == "none" for c in usb)
    if usb_off and any((i.bus or ("usb" if i.type == "tablet" else "ps2")) == "usb"
                       for i in dev.inputs):
        raise _unsupported("Can't add USB input device. USB bus is disabled")
    for r in dev.redirdevs:
        if r.bus not in (None, "usb"):
            raise _unsupported(f"Redirection bus {r.bus} is not supported by QEMU")
        if usb_off:
            raise _unsupported("cannot add redirected USB device: USB is disabled for this "
                               "domain")
        if r.type not in ("spicevmc", "unix"):
            raise _unsupported(f"character device type '{r.type}' is not supported")
    for snd in dev.sounds:
        if snd.model not in command_sound.SOUND_DEVICES:
            raise _unsupported(f"sound card model '{snd.model}' is not supported by qemu")


# ============================================================================ disks

_CACHE_MODES: dict[str, tuple[bool, bool, bool]] = {
    # mode: (cache.direct, cache.no-flush, write-cache)
    "writeback": (False, False, True),
    "writethrough": (False, False, False),
    "none": (True, False, True),
    "directsync": (True, False, False),
    "unsafe": (False, True, True),
}
_IO_MODES = frozenset({"native", "threads", "io_uring"})
_FORMATS = frozenset({"raw", "qcow2"})


def disk_source(disk: Disk,
                volumes: Mapping[tuple[str, str], tuple[str, str]] | None = None,
                ) -> tuple[str, str | None]:
    """The host side of a disk: ("file" or "block", path or None for an empty drive).

    A ``type='volume'`` disk takes the kind and path its pool gave (``volumes``)."""
    src = disk.source
    if disk.type == "volume":
        if src is None or not src.pool or not src.volume:
            raise _unsupported(f"disk '{_target_dev(disk)}': a volume source needs "
                               "pool and volume")
        found = (volumes or {}).get((src.pool, src.volume))
        if found is None:
            raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.QEMU,
                             f"volume '{src.volume}' of pool '{src.pool}' was not translated")
        return found
    if disk.type == "block":
        return "block", src.dev if src is not None else None
    return "file", src.file if src is not None else None


def _disk_cache(disk: Disk) -> tuple[bool, bool, bool] | None:
    mode = disk.driver.cache if disk.driver is not None else None
    if mode in (None, "default") and disk.shareable and not _disk_readonly(disk):
        mode = "none"  # qemuDomainPrepareDiskCachemode: shared disks bypass the host cache
    if mode is None or mode == "default":
        return None
    if mode not in _CACHE_MODES:
        raise _unsupported(f"disk cache mode '{mode}' is not supported")
    return _CACHE_MODES[mode]


def _disk_readonly(disk: Disk) -> bool:
    return disk.readonly or disk.device == "cdrom"


def disk_blockdev_args(disk: Disk, index: int,
                       volumes: Mapping[tuple[str, str], tuple[str, str]] | None = None,
                       *, key_secrets: bool = False,
                       fdset: diskfds.DiskFDSet | None = None) -> list[dict[str, Any]]:
    """The ``blockdev-add`` arguments of a disk: the storage node, then the format node.

    Node names are libvirt's (``libvirt-N-storage`` / ``libvirt-N-format``); ``index``
    must be unique in the domain. Empty for a cdrom without media. A LUKS-encrypted disk's
    format node names its key secret (``encryption_secret_alias``), which the caller
    defines first and says so with ``key_secrets`` (the command line does; without it an
    encrypted disk is refused, as hot-plug has no secret objects yet). ``fdset``: the fd
    set of a ``<source fdgroup>`` disk (diskfds.py), which QEMU opens as ``/dev/fdset/N``.
    """
    kind, path = disk_source(disk, volumes)
    if diskfds.fdgroup_of(disk) is None:
        fdset = None
    elif fdset is not None:
        kind, path = "file", fdset.path
    if path is None:
        if disk.device == "cdrom":
            return []
        raise _unsupported(f"disk '{_target_dev(disk)}' has no source")
    if disk.type not in (None, "file", "block", "volume"):
        raise _unsupported(f"disk type '{disk.type}' is not supported")
    drv = disk.driver or DiskDriver()
    if drv.name not in (None, "qemu"):
        raise _unsupported(f"disk driver '{drv.name}' is not supported")
    fmt = drv.type or "raw"
    if fmt not in _FORMATS:
        raise _unsupported(f"disk format '{fmt}' is not supported")
    cache = _disk_cache(disk)
    io = drv.io
    if io is not None and io not in _IO_MODES:
        raise _unsupported(f"disk io mode '{io}' is not supported")
    if io == "native" and cache is not None and not cache[0]:
        raise _unsupported("native I/O needs either no disk cache or directsync cache mode")
    if drv.discard not in (None, "unmap", "ignore"):
        raise _unsupported(f"disk discard mode '{drv.discard}' is not supported")
    storage = f"libvirt-{index}-storage"
    fmt_node = f"libvirt-{index}-format"
    driver = "file"
    if kind == "block":
        driver = "host_cdrom" if disk.device == "cdrom" and _is_cdrom(path) else "host_device"
    sprops: dict[str, Any] = {"driver": driver, "filename": path}
    if io is not None:
        sprops["aio"] = io
    sprops["node-name"] = storage
    cache_obj = {"direct": cache[0], "no-flush": cache[1]} if cache is not None else None
    if cache_obj is not None:
        sprops["cache"] = cache_obj
    if fdset is not None:
        sprops.update(fdset.storage_props(_disk_readonly(disk)))
    else:
        sprops["auto-read-only"] = True
    sprops["discard"] = "unmap"
    fprops: dict[str, Any] = {"node-name": fmt_node, "read-only": _disk_readonly(disk)}
    if cache_obj is not None:
        fprops["cache"] = dict(cache_obj)
    if drv.discard is not None:
        fprops["discard"] = drv.discard
    enc = disk_encryption(disk)
    if enc is None:
        fprops["driver"] = fmt
    else:
        if not key_secrets:
            where = "disk/source" if disk.source is not None and disk.source.encryption else "disk"
            raise _unsupported(f"element <{where}/encryption> is not supported by the qemu "
                               "driver")
        _check_encryption(enc, fmt)
        secret = encryption_secret_alias(fmt_node)
        if fmt == "raw":  # qemuBlockStorageSourceGetFormatProps: a raw LUKS image
            fprops["driver"] = "luks"
            fprops["key-secret"] = secret
        else:
            fprops["driver"] = fmt
            fprops["encrypt"] = {"format": "luks", "key-secret": secret}
    fprops["file"] = storage
    return [sprops, fprops]


# ============================================================================ disk encryption

MASTER_KEY_ID = "masterKey0"
MASTER_KEY_FILE = "master-key.aes"  # in the domain's runtime dir, as libvirt's libDir
_MASTER_KEY_BYTES = 32


def disk_encryption(disk: Disk) -> Encryption | None:
    """The disk's ``<encryption>`` (in ``<source>``, or under ``<disk>`` as older XML has it)."""
    enc = disk.source.encryption if disk.source is not None else None
    return enc if enc is not None else disk.encryption


def _check_encryption(enc: Encryption, fmt: str) -> None:
    """libvirt's checks of a disk's encryption (domain_validate.c, qemu_domain.c)."""
    kind = enc.format or "default"
    if kind in ("default", "qcow"):
        raise _unsupported("old qcow/qcow2 encryption is not supported")
    if kind == "luks2":
        raise _unsupported("luks2 is currently not supported by the qemu encryption engine")
    if kind != "luks":
        raise _unsupported(f"unknown volume encryption format type {kind}")
    if enc.engine not in (None, "qemu"):
        raise _unsupported(f"encryption engine '{enc.engine}' is not supported")
    if enc.cipher is not None:
        raise _unsupported("supplying <cipher> for domain disk definition is unnecessary")
    if fmt not in ("raw", "qcow2"):
        raise _unsupported("encryption is supported only with 'raw' and 'qcow2' image format")
    if len(enc.secrets) != 1 or enc.secrets[0].type != "passphrase":
        raise _unsupported("a LUKS disk needs one <secret type='passphrase'>")


def encryption_secret_alias(format_node: str) -> str:
    """libvirt's qemuAliasForSecret(format node, "encryption", 0)."""
    return f"{format_node}-encryption-secret0"


def master_key(runtime_dir: str) -> bytes:
    """The domain's master key (libvirt's qemuDomainMasterKeyCreate): 32 random bytes in
    ``runtime_dir/master-key.aes`` (mode 0600), read back when it exists already (a
    re-attached domain's QEMU holds the key it was started with)."""
    path = os.path.join(runtime_dir, MASTER_KEY_FILE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        with open(path, "rb") as f:
            key = f.read(_MASTER_KEY_BYTES + 1)
        if len(key) != _MASTER_KEY_BYTES:
            raise _internal(f"master key file '{path}' is not {_MASTER_KEY_BYTES} bytes") \
                from None
        return key
    except OSError as exc:
        raise _internal(f"failed to create master key file '{path}': {exc.strerror}") \
            from None
    key = os.urandom(_MASTER_KEY_BYTES)
    try:
        os.write(fd, key)
    finally:
        os.close(fd)
    return key


def master_key_object(runtime_dir: str) -> dict[str, Any]:
    """``-object secret,id=masterKey0,format=raw,file=...`` (qemuBuildMasterKeyCommandLine)."""
    return {"qom-type": "secret", "id": MASTER_KEY_ID, "format": "raw",
            "file": os.path.join(runtime_dir, MASTER_KEY_FILE)}


def aes_secret_object(alias: str, key: bytes, value: bytes) -> dict[str, Any]:
    """A secret QEMU decrypts with the master key (libvirt's qemuDomainSecretAESSetup):
    AES-256-CBC, PKCS#7 padding, a random IV; only the ciphertext is on the command line."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(value) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    data = enc.update(padded) + enc.finalize()
    return {"qom-type": "secret", "id": alias, "data": base64.b64encode(data).decode("ascii"),
            "keyid": MASTER_KEY_ID, "iv": base64.b64encode(iv).decode("ascii"),
            "format": "base64"}


def disk_passphrase(disk: Disk, secrets: SecretValues | None) -> bytes:
    """The passphrase of an encrypted disk from the secret driver (virSecretGetSecretString
    with VIR_SECRET_USAGE_TYPE_VOLUME): its errors as they are."""
    enc = disk_encryption(disk)
    assert enc is not None and enc.secrets
    ref = enc.secrets[0]
    if secrets is None:
        raise _internal(f"disk '{_target_dev(disk)}' is encrypted but no secret driver is "
                        "linked to this QEMU driver")
    return secrets.secret_value(SecretUsageType.VOLUME, ref.uuid, ref.usage)


_CDROM_GET_CAPABILITY = 0x5331


def _is_cdrom(path: str) -> bool:
    """Whether a host block device is an optical drive (libvirt then uses host_cdrom):
    libvirt's virFileIsCDROM, the CDROM_GET_CAPABILITY ioctl on the opened device."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.ioctl(fd, _CDROM_GET_CAPABILITY, 0)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _target_dev(disk: Disk) -> str:
    if disk.target is None or not disk.target.dev:
        raise _unsupported("disk without <target dev=...>")
    return disk.target.dev


def _drive_address(disk: Disk, bus: str, family: str) -> Address:
    """The disk's ``<address type='drive'>``, computed from its target name when absent."""
    addr = disk.address
    if addr is not None and addr.type is not None:
        if addr.type != "drive":
            raise _unsupported(f"address type '{addr.type}' is not supported for {bus} disks")
        return addr
    idx = _disk_index(_target_dev(disk))
    addr = Address()
    addr.type = "drive"
    if bus == "ide":
        addr.controller, addr.bus, addr.target, addr.unit = (
            str(idx // 4), str((idx % 4) // 2), "0", str(idx % 2))
    elif bus == "sata":
        addr.controller, addr.bus, addr.target, addr.unit = str(idx // 6), "0", "0", str(idx % 6)
    else:  # scsi
        addr.controller, addr.bus, addr.target, addr.unit = str(idx // 7), "0", "0", str(idx % 7)
    disk.address = addr
    return addr


def disk_alias(disk: Disk, family: str) -> str:
    """libvirt's alias for a disk (virtio-disk0, ide0-1-0, sata0-0-0, scsi0-0-0-0).

    Also fills in the disk's drive address (ide/sata/scsi) when it has none.
    """
    target = disk.target or DiskTarget()
    bus = target.bus
    dev = _target_dev(disk)
    if bus == "virtio":
        return f"virtio-disk{_disk_index(dev)}"
    if bus in ("ide", "sata", "scsi"):
        if bus == "ide" and family == "q35":
            raise _unsupported(
                "IDE controllers are unsupported for this QEMU binary or machine type")
        a = _drive_address(disk, bus, family)
        c, b, t, u = (_int(v or "0", "drive address") for v in (a.controller, a.bus, a.target,
                                                                  a.unit))
        if bus == "ide":
            return f"ide{c}-{b}-{u}"
        if bus == "sata":
            return f"sata{c}-{b}-{u}"
        return f"scsi{c}-{b}-{t}-{u}"
    raise _unsupported(f"disk bus '{bus}' is not supported")


def disk_device_args(
    disk: Disk, alias: str, family: str, format_node: str | None,
    bootindex: int | None = None,
) -> dict[str, Any]:
    """The ``device_add`` arguments of a disk's frontend (virtio-blk, ide/scsi hd/cd)."""
    bus = disk.target.bus if disk.target is not None else None
    cdrom = disk.device == "cdrom"
    if disk.device not in (None, "disk", "cdrom"):
        raise _unsupported(f"disk device '{disk.device}' is not supported")
    props: dict[str, Any]
    if bus == "virtio":
        if cdrom:
            raise _unsupported("disk device 'cdrom' is not supported on bus 'virtio'")
        props = {"driver": "virtio-blk-pci", **_pci_props(disk.address, family)}
    elif bus in ("ide", "sata"):
        if disk.readonly and not cdrom:
            raise _unsupported("readonly ide disks are not supported")
        a = _drive_address(disk, bus, family)
        ctrl = _int(a.controller or "0", "drive address")
        unit = _int(a.unit or "0", "drive address")
        props = {"driver": "ide-cd" if cdrom else "ide-hd"}
        if bus == "ide":
            props["bus"] = f"ide.{_int(a.bus or '0', 'drive address')}"
            props["unit"] = unit
        elif family == "q35" and ctrl == 0:
            props["bus"] = f"ide.{unit}"
        else:
            props["bus"] = f"sata{ctrl}.{unit}"
    elif bus == "scsi":
        a = _drive_address(disk, bus, family)
        ctrl = _int(a.controller or "0", "drive address")
        props = {"driver": "scsi-cd" if cdrom else "scsi-hd", "bus": f"scsi{ctrl}.0",
                 "channel": _int(a.bus or "0", "drive address"),
                 "scsi-id": _int(a.target or "0", "drive address"),
                 "lun": _int(a.unit or "0", "drive address"),
                 "device_id": f"drive-{alias}"}
    else:
        raise _unsupported(f"disk bus '{bus}' is not supported")
    if format_node is not None:
        props["drive"] = format_node
    props["id"] = alias
    if bootindex is not None:
        props["bootindex"] = bootindex
    if disk.shareable:
        props["share-rw"] = True
    if disk.serial:
        props["serial"] = disk.serial
    cache = _disk_cache(disk)
    if cache is not None:
        props["write-cache"] = "on" if cache[2] else "off"
    return props


# ============================================================================ interfaces

_NIC_MODELS = {"virtio": "virtio-net-pci", "e1000": "e1000", "e1000e": "e1000e",
               "rtl8139": "rtl8139"}


def net_netdev_args(iface: Interface, netdev_id: str) -> dict[str, Any]:
    """The ``netdev_add`` arguments of an interface's host side.

    ``user`` is QEMU's slirp; ``network``/``bridge``/``ethernet`` attach to the tap
    named by ``<target dev>`` (created by the caller before QEMU starts).
    """
    kind = iface.type
    if kind == "user":
        return {"type": "user", "id": netdev_id}
    if kind in ("network", "bridge", "ethernet"):
        tap = iface.target.dev if iface.target is not None else None
        if not tap:
            raise _internal(f"no tap device for interface {netdev_id}")
        return {"type": "tap", "ifname": tap, "script": "no", "downscript": "no",
                "id": netdev_id}
    raise _unsupported(f"interface type '{kind}' is not supported")


def net_device_args(
    iface: Interface, alias: str, netdev_id: str, family: str, bootindex: int | None = None,
) -> dict[str, Any]:
    """The ``device_add`` arguments of an interface's guest side (the NIC)."""
    model = iface.model.type if iface.model is not None and iface.model.type else "rtl8139"
    driver = _NIC_MODELS.get(model)
    if driver is None:
        raise _unsupported(f"interface model '{model}' is not supported")
    if iface.mac is None or not iface.mac.address:
        raise _internal(f"interface {alias} has no MAC address")
    props: dict[str, Any] = {"driver": driver, "netdev": netdev_id, "id": alias,
                             "mac": iface.mac.address.lower()}
    mtu = iface.mtu.size if iface.mtu is not None else None
    if mtu:
        if driver != "virtio-net-pci":
            raise _unsupported(f"setting MTU on interface model '{model}' is not supported")
        props["host_mtu"] = _int(mtu, "MTU")
    props.update(_pci_props(iface.address, family))
    if bootindex is not None:
        props["bootindex"] = bootindex
    return props


def _random_mac() -> str:
    tail = random.SystemRandom().randbytes(3)
    return "52:54:00:" + ":".join(f"{b:02x}" for b in tail)


# ============================================================================ character devices


def _chardev_opts(dev: ChrDevice, chr_id: str, runtime_dir: str) -> str:
    """``-chardev`` value for a serial/console/channel backend."""
    kind = dev.type or "pty"
    src = dev.source
    parts: list[str]
    if kind == "pty":
        parts = ["pty", f"id={chr_id}"]
    elif kind == "null":
        parts = ["null", f"id={chr_id}"]
    elif kind == "file":
        if src is None or not src.path:
            raise _unsupported(f"file character device {chr_id} has no source path")
        parts = ["file", f"id={chr_id}", f"path={opt_escape(src.path)}"]
        if src.append is not None:
            parts.append(f"append={'on' if _yes(src.append) else 'off'}")
    elif kind == "spicevmc":  # a channel's: the SPICE agent (redirdevs build their own)
        parts = [command_usbredir.spicevmc_opts(chr_id, "vdagent")]
    elif kind == "unix":
        if src is None:
            src = ChrSource()
            src.mode = "bind"
            dev.sources.append(src)
        if not src.path:
            if src.mode not in (None, "bind"):
                raise _unsupported(f"unix character device {chr_id} has no source path")
            src.mode = "bind"
            src.path = os.path.join(runtime_dir, _socket_name(dev, chr_id))
        parts = ["socket", f"id={chr_id}", f"path={opt_escape(src.path)}"]
        if src.mode in (None, "bind"):
            parts += ["server=on", "wait=off"]
        elif src.mode != "connect":
            raise _unsupported(f"unix character device mode '{src.mode}' is not supported")
    else:
        raise _unsupported(f"character device type '{kind}' is not supported")
    if dev.log is not None and dev.log.file:
        parts.append(f"logfile={opt_escape(dev.log.file)}")
        parts.append(f"logappend={'on' if _yes(dev.log.append) else 'off'}")
    return ",".join(parts)


def _socket_name(dev: ChrDevice, chr_id: str) -> str:
    name = dev.target.name if dev.target is not None else None
    if name and "/" not in name and not name.startswith("."):
        return name
    return f"{chr_id}.sock"


def _vioserial_props(addr: Address | None) -> dict[str, Any]:
    """``bus``/``nr`` of a virtio-serial port (virtio consoles and channels)."""
    if addr is not None and addr.type not in (None, "virtio-serial"):
        raise _unsupported(f"address type '{addr.type}' is not supported for virtio-serial "
                           "ports")
    if addr is None or addr.type is None:
        return {"bus": "virtio-serial0.0"}
    props: dict[str, Any] = {
        "bus": f"virtio-serial{_int(addr.controller or '0', 'controller')}"
               f".{_int(addr.bus or '0', 'bus')}"}
    if addr.port is not None:
        props["nr"] = _int(addr.port, "port")
    return props


# ============================================================================ the builder

_VIDEO_PRIMARY = {"cirrus": "cirrus-vga", "vga": "VGA", "virtio": "virtio-vga",
                  "qxl": "qxl-vga", "bochs": "bochs-display"}
_VIDEO_SECONDARY = {"virtio": "virtio-gpu-pci", "qxl": "qxl", "bochs": "bochs-display"}
_USB_MODELS = {"piix3-uhci": "piix3-usb-uhci", "qemu-xhci": "qemu-xhci",
               "nec-xhci": "nec-usb-xhci", "ich9-ehci1": "ich9-usb-ehci1",
               "ich9-uhci1": "ich9-usb-uhci1", "ich9-uhci2": "ich9-usb-uhci2",
               "ich9-uhci3": "ich9-usb-uhci3"}
# libvirt's ICH9 USB2 set on one slot: EHCI at function 7, its UHCI companions at 0-2.
_ICH9_FUNCTIONS = {"ich9-ehci1": 7, "ich9-uhci1": 0, "ich9-uhci2": 1, "ich9-uhci3": 2}
_RAM_ID = "pc.ram"  # QEMU's default RAM id of the x86 machines
_AUDIO_ID = "audio1"  # the -audiodev of libvirt's default <audio id='1'>
_CONTROLLER_ORDER = {"pci": 0, "usb": 1, "scsi": 2, "ide": 3, "sata": 4, "virtio-serial": 5}
_ICH9_STARTPORT = {"ich9-uhci1": 0, "ich9-uhci2": 2, "ich9-uhci3": 4}
_SCSI_MODELS = {"virtio-scsi": "virtio-scsi-pci", "lsilogic": "lsi"}
_WATCHDOG_ACTIONS = {"reset": "reset", "shutdown": "shutdown", "poweroff": "poweroff",
                     "pause": "pause", "none": "none", "dump": "pause", "inject-nmi": "inject-nmi"}
_LIFECYCLE = frozenset({"destroy", "restart", "preserve", "rename-restart",
                        "coredump-destroy", "coredump-restart"})


def build_command(defn: DomainDef, ctx: CommandContext) -> list[str]:
    """The QEMU argument vector for ``defn`` (``build(defn, ctx).argv``)."""
    return build(defn, ctx).argv


def build(defn: DomainDef, ctx: CommandContext) -> Command:
    """Build the QEMU command line for ``defn`` (fills in aliases etc., see the module doc)."""
    check_supported(defn, spice=ctx.spice)
    return _Builder(defn, ctx).run()


def free_hotplug_address(defn: DomainDef) -> Address:
    """A PCI address where a device can be hot-plugged into the running ``defn``.

    pc: a free slot of pci.0. q35: slot 0 of a ``pcie-root-port`` nothing uses yet
    (pcie.0 does not hot-plug). Raises VIR_ERR_OPERATION_FAILED when there is none.
    """
    machine = defn.os.type.machine if defn.os and defn.os.type and defn.os.type.machine else "pc"
    family = machine_family(machine)
    used = _used_pci(defn)
    if family == "pc":
        for slot in range(3, 32):
            if (0, slot) not in used:
                return _pci_address(slot)
    else:
        devices = defn.devices or Devices()
        for c in devices.controllers:
            if c.type == "pci" and c.model == "pcie-root-port" and c.index is not None:
                bus = _int(c.index, "controller index")
                if not any(b == bus for b, _ in used):
                    return _pci_address(0, bus=bus)
    raise make_error(ErrorCode.OPERATION_FAILED, ErrorDomain.QEMU,
                     "no free PCI slot for hot-plug")


def _pci_devices(defn: DomainDef) -> Iterable[Any]:
    devices = defn.devices
    if devices is None:
        return []
    items: list[Any] = [*devices.controllers, *devices.disks, *devices.interfaces,
                        *devices.inputs, *devices.videos, *devices.rngs, *devices.sounds]
    items += [d for d in (devices.watchdog, devices.memballoon) if d is not None]
    return items


def _used_pci(defn: DomainDef) -> set[tuple[int, int]]:
    used: set[tuple[int, int]] = set()
    for dev in _pci_devices(defn):
        addr = dev.address
        if addr is not None and addr.type == "pci":
            used.add((_int(addr.bus or "0", "PCI bus"), _int(addr.slot or "0", "PCI slot")))
    return used


class _Builder:
    def __init__(self, defn: DomainDef, ctx: CommandContext) -> None:
        self.d = defn
        self.ctx = ctx
        if defn.devices is None:
            defn.devices = Devices()
        self.dev: Devices = defn.devices
        if defn.os is None:
            defn.os = OsDef()
        self.os: OsDef = defn.os
        if self.os.type is None:
            self.os.type = OsType()
            self.os.type.name = "hvm"
        if self.os.type.machine is None:
            caps = ctx.caps
            self.os.type.machine = (caps.default_machine if caps and caps.default_machine
                                    else "pc")
        self.machine: str = self.os.type.machine
        self.family = machine_family(self.machine)
        self.argv: list[str] = []
        self.cmd = Command(self.argv, self.machine, self.family, "tcg")
        self.used_slots: set[tuple[int, int]] = set()
        self.next_slot = 2
        self.bootindex: dict[int, int] = {}  # id(device) -> bootindex
        self.pflash: list[str] = []
        self.has_video = False
        self.bios: str | None = None  # -bios comes after -cpu (qemuBuildDomainLoaderCommandLine)

    # ---------------------------------------------------------------- helpers

    def add(self, *args: str) -> None:
        self.argv.extend(args)

    def device(self, props: dict[str, Any]) -> None:
        self.add("-device", json_arg(props))

    def require_device(self, driver: str) -> None:
        caps = self.ctx.caps
        if caps is not None and not caps.has_device(driver):
            raise _unsupported(f"device '{driver}' is not supported by this QEMU binary")

    def take_slot(self, dev: Any, preferred: int | None = None) -> None:
        """Give ``dev`` a root-bus PCI address unless it has an address already."""
        if dev.address is not None and dev.address.type is not None:
            return
        if preferred is not None and (0, preferred) not in self.used_slots:
            slot = preferred
        else:
            while (0, self.next_slot) in self.used_slots or self._reserved(self.next_slot):
                self.next_slot += 1
            slot = self.next_slot
        if slot > 31:
            raise _unsupported("no free PCI slot on the root bus")
        self.used_slots.add((0, slot))
        dev.address = _pci_address(slot)

    def _reserved(self, slot: int) -> bool:
        # pc: 0 host bridge, 1 PIIX3, 2 primary video; q35: 0 host bridge, 1 video,
        # 0x1f ICH9 (LPC, SATA, SMBus)
        if self.family == "pc":
            return slot in (0, 1) or (slot == 2 and self.has_video)
        return slot in (0, 1, 0x1F)

    # ---------------------------------------------------------------- top level

    def run(self) -> Command:
        d = self.d
        if not d.name:
            raise _internal("domain has no name")
        self.check_lifecycle()
        accel = self.accel()
        self.cmd.accel = accel
        self.prepare_devices()
        self.add("-name", f"guest={opt_escape(d.name)},debug-threads=on")
        if self.ctx.start_paused:
            self.add("-S")
        if any(disk_encryption(disk) is not None for disk in self.dev.disks):
            self.add("-object", json_arg(master_key_object(self.ctx.runtime_dir)))
        self.firmware_blockdevs()
        self.add("-machine", self.machine_opts())
        self.add("-accel", accel)
        self.add("-cpu", ",".join([self.cpu_opts(accel), *command_hyperv.cpu_flags(self.d)]))
        if self.bios is not None:
            self.add("-bios", self.bios)
        self.add("-m", self.memory_opts())
        self.add("-object", json_arg({"qom-type": "memory-backend-ram", "id": _RAM_ID,
                                      "size": self.ram_bytes()}))
        self.add("-overcommit", "mem-lock=off")
        self.add("-smp", self.smp_opts())
        self.add("-uuid", d.uuid)
        if not self.dev.graphics:
            self.add("-display", "none")
        self.add("-no-user-config", "-nodefaults")
        self.add("-chardev",
                 f"socket,id=charmonitor,path={opt_escape(self.ctx.qmp_socket)},"
                 "server=on,wait=off")
        self.add("-mon", "chardev=charmonitor,id=monitor,mode=control")
        self.add("-pidfile", self.ctx.pid_file)
        self.clock_opts(accel)
        if d.on_reboot == "destroy":
            self.add("-no-reboot")
        else:
            self.add("-no-shutdown")
        if not self.acpi_enabled():
            self.add("-no-acpi")
        self.pm_opts()
        self.boot_opts()
        self.controllers()
        self.disks()
        self.interfaces()
        self.chardevs()
        self.inputs()
        self.graphics()
        self.videos()
        self.sounds()
        self.watchdog()
        self.redirdevs()
        self.balloon()
        self.rngs()
        self.panics()
        if self.ctx.incoming is not None:
            self.add("-incoming", self.ctx.incoming)
        self.add("-msg", "timestamp=on")
        return self.cmd

    def check_lifecycle(self) -> None:
        d = self.d
        for name, value in (("on_poweroff", d.on_poweroff), ("on_reboot", d.on_reboot),
                            ("on_crash", d.on_crash)):
            if value is not None and value not in _LIFECYCLE:
                raise _unsupported(f"<{name}> action '{value}' is not supported")
        for label in d.seclabels:
            if label.type not in ("none", None):
                raise _unsupported(f"security label type '{label.type}' is not supported")

    def accel(self) -> str:
        kind = self.d.type
        if kind == "kvm":
            if not self.ctx.kvm_available:
                raise _unsupported(
                    f"Emulator '{self.ctx.emulator}' does not support virt type 'kvm'")
            return "kvm"
        if kind == "qemu":
            return "tcg"
        raise _unsupported(f"domain type '{kind}' is not supported by the qemu driver")

    def machine_opts(self) -> str:
        caps = self.ctx.caps
        if caps is not None and caps.canonical_machine(self.machine) is None:
            raise _unsupported(f"Emulator '{self.ctx.emulator}' does not support machine "
                               f"type '{self.machine}'")
        arch = self.os.type.arch if self.os.type is not None else None
        if arch not in (None, "x86_64"):
            raise _unsupported(f"architecture '{arch}' is not supported by the qemu driver")
        if self.d.os_type != "hvm":
            raise _unsupported(f"OS type '{self.d.os_type}' is not supported by the qemu driver")
        machine = caps.canonical_machine(self.machine) if caps is not None else None
        opts = [opt_escape(machine or self.machine), "usb=off"]
        feats = self.d.features
        if feats is not None:
            if feats.vmport is not None:
                opts.append(f"vmport={'on' if feats.vmport.state == 'on' else 'off'}")
            if feats.smm is not None:
                opts.append(f"smm={'on' if feats.smm.state in (None, 'on') else 'off'}")
        # libvirt 9.0 for QEMU >= 5.0: guest RAM is a memory-backend object named as the
        # machine's default RAM id (pc.ram on x86), and -no-hpet (QEMU 7.2 has no
        # machine 'hpet' property)
        opts += ["dump-guest-core=off", f"memory-backend={_RAM_ID}"]
        for i, node in enumerate(self.pflash):
            opts.append(f"pflash{i}={node}")
        return ",".join(opts)

    def acpi_enabled(self) -> bool:
        return self.d.features is not None and self.d.features.acpi is not None

    # ---------------------------------------------------------------- cpu & memory

    def cpu_opts(self, accel: str) -> str:
        cpu: CpuDef | None = self.d.cpu
        if cpu is None:
            return "qemu64"
        mode = cpu.mode or "custom"
        opts: list[str]
        if mode == "host-passthrough":
            if accel != "kvm":
                raise _unsupported("CPU mode 'host-passthrough' for x86_64 qemu domain on "
                                   "x86_64 host is not supported by hypervisor")
            opts = ["host"]
            if cpu.migratable is not None:
                opts.append(f"migratable={'on' if _yes(cpu.migratable) else 'off'}")
        elif mode == "maximum":
            opts = ["max"]
            if cpu.migratable is not None:
                opts.append(f"migratable={'on' if _yes(cpu.migratable) else 'off'}")
        elif mode == "host-model":
            opts = ["host", "migratable=on"] if accel == "kvm" else ["max"]
        elif mode == "custom":
            name = cpu.model.name.strip() if cpu.model is not None and cpu.model.name else None
            if name is None:
                if cpu.features:
                    raise make_error(ErrorCode.XML_ERROR, ErrorDomain.CPU,
                                     "Non-empty feature list specified without CPU model")
                name = "qemu64"
            opts = [opt_escape(name)]
            if cpu.model is not None and cpu.model.vendor_id:
                opts.append(f"vendor={opt_escape(cpu.model.vendor_id)}")
        else:
            raise _unsupported(f"CPU mode '{mode}' is not supported")
        for feat in cpu.features:
            policy = feat.policy or "require"
            if not feat.name:
                raise _unsupported("CPU feature without a name")
            if policy in ("force", "require"):
                opts.append(f"{opt_escape(feat.name)}=on")
            elif policy in ("disable", "forbid"):
                opts.append(f"{opt_escape(feat.name)}=off")
            elif policy != "optional":
                raise _unsupported(f"CPU feature policy '{policy}' is not supported")
        return ",".join(opts)

    def ram_kib(self) -> int:
        kib = self.d.memory_kib
        if kib <= 0:
            raise _internal("domain has no memory size")
        return -(-kib // 1024) * 1024

    def ram_bytes(self) -> int:
        return self.ram_kib() * 1024

    def memory_opts(self) -> str:
        """libvirt's ``-m`` in MiB. Memory hotplug (``<maxMemory>``) needs guest NUMA
        nodes, which this driver does not support: refused as libvirt refuses it then."""
        if self.d.max_memory_kib:
            raise _unsupported("At least one numa node has to be configured when enabling "
                               "memory hotplug")
        return str(self.ram_kib() // 1024)

    def smp_opts(self) -> str:
        maxv = self.d.vcpus_max
        cur = self.d.vcpus_current
        topo = self.d.cpu.topology if self.d.cpu is not None else None
        if topo is not None:
            sockets, dies = topo.sockets or 1, topo.dies or 1
            cores, threads = topo.cores or 1, topo.threads or 1
            if sockets * dies * cores * threads != maxv:
                raise make_error(ErrorCode.XML_ERROR, ErrorDomain.DOMAIN,
                                 "CPU topology doesn't match maximum vcpu count")
        else:
            sockets, dies, cores, threads = maxv, 1, 1, 1
        opts = [str(cur)]
        if cur != maxv:
            opts.append(f"maxcpus={maxv}")
        opts.append(f"sockets={sockets}")
        if topo is not None:  # QEMU 7.2 knows dies: libvirt gives them with a topology
            opts.append(f"dies={dies}")
        opts += [f"cores={cores}", f"threads={threads}"]
        return ",".join(opts)

    # ---------------------------------------------------------------- clock, pm, boot, firmware

    def timers(self) -> list[Timer]:
        return self.d.clock.timers if self.d.clock is not None else []

    def clock_opts(self, accel: str) -> None:
        offset = self.d.clock.offset if self.d.clock is not None else None
        if offset not in (None, "utc", "localtime"):
            raise _unsupported(f"clock offset '{offset}' is not supported")
        rtc = [f"base={offset or 'utc'}"]
        globals_: list[str] = []
        for t in self.timers():
            if t.name == "rtc":
                if t.present is not None and not _yes(t.present):
                    raise _unsupported("disabling the rtc timer is not supported")
                if t.tickpolicy == "catchup":
                    rtc.append("driftfix=slew")
                elif t.tickpolicy not in (None, "delay"):
                    raise _unsupported(f"rtc timer tickpolicy '{t.tickpolicy}' is not supported")
            elif t.name == "pit":
                if t.present is not None and not _yes(t.present):
                    raise _unsupported("disabling the pit timer is not supported")
                if t.tickpolicy == "delay":  # libvirt sets it whatever the accelerator
                    globals_.append("kvm-pit.lost_tick_policy=delay")
                elif t.tickpolicy is not None:
                    raise _unsupported(f"pit timer tickpolicy '{t.tickpolicy}' is not supported")
            elif t.name == "hypervclock":
                if t.tickpolicy is not None:
                    raise _unsupported("hypervclock timer tickpolicy is not supported")
                # a -cpu flag (hv-time, command_hyperv)
            elif t.name == "hpet":
                if t.tickpolicy is not None:
                    raise _unsupported("hpet timer tickpolicy is not supported")
                if t.present is not None and not _yes(t.present):
                    globals_.append("")  # -no-hpet, in timer order (libvirt 9.0, QEMU 7.2)
            else:
                raise _unsupported(f"<clock><timer name='{t.name}'> is not supported")
        self.add("-rtc", ",".join(rtc))
        for g in globals_:
            self.add(*(("-global", g) if g else ("-no-hpet",)))

    def pm_opts(self) -> None:
        pm = self.d.pm
        if pm is None:
            return
        dev = "ICH9-LPC" if self.family == "q35" else "PIIX4_PM"
        for state, name in ((pm.suspend_to_mem, "s3"), (pm.suspend_to_disk, "s4")):
            if state is not None and state.enabled is not None:
                self.add("-global", f"{dev}.disable_{name}={0 if _yes(state.enabled) else 1}")

    def boot_opts(self) -> None:
        devs = [b.dev for b in self.os.boot]
        bootable: list[Disk | Interface] = [*self.dev.disks, *self.dev.interfaces]
        per_device = any(x.boot is not None for x in bootable)
        if devs and per_device:
            raise make_error(ErrorCode.XML_ERROR, ErrorDomain.DOMAIN,
                             "per-device boot elements cannot be used together with os/boot "
                             "elements")
        if per_device:
            for x in bootable:
                if x.boot is not None:
                    if x.boot.order is None:
                        raise _unsupported("<boot> without order")
                    self.bootindex[id(x)] = int(x.boot.order)
        else:
            # the position in <os><boot> is the index, also past a device not present
            # (qemuBuildBootCommandLine's bootCD/bootDisk/bootNet = i + 1)
            for order, dev in enumerate(devs, 1):
                target: Any = None
                if dev == "hd":
                    target = next((k for k in self.dev.disks if k.device in (None, "disk")), None)
                elif dev == "cdrom":
                    target = next((k for k in self.dev.disks if k.device == "cdrom"), None)
                elif dev == "network":
                    target = next(iter(self.dev.interfaces), None)
                else:
                    raise _unsupported(f"boot device '{dev}' is not supported")
                if target is not None and id(target) not in self.bootindex:
                    self.bootindex[id(target)] = order
        opts = []
        menu = self.os.bootmenu
        if menu is not None and menu.enable is not None:
            opts.append(f"menu={'on' if _yes(menu.enable) else 'off'}")
            if _yes(menu.enable) and menu.timeout is not None:
                opts.append(f"splash-time={_int(menu.timeout, 'boot menu timeout')}")
        opts.append("strict=on")
        self.add("-boot", ",".join(opts))
        if self.os.kernel:
            self.add("-kernel", self.os.kernel)
        if self.os.initrd:
            if not self.os.kernel:
                raise _unsupported("<initrd> without <kernel>")
            self.add("-initrd", self.os.initrd)
        if self.os.cmdline:
            if not self.os.kernel:
                raise _unsupported("<cmdline> without <kernel>")
            self.add("-append", self.os.cmdline)

    def firmware_blockdevs(self) -> None:
        """UEFI via pflash (code read-only, per-domain NVRAM), or -bios for a ROM loader."""
        os_ = self.os
        loader = os_.loader
        firmware = os_.firmware
        for feat in os_.firmware_features.features if os_.firmware_features else []:
            if feat.name in ("secure-boot", "enrolled-keys") and _yes(feat.enabled):
                raise _unsupported(f"firmware feature '{feat.name}' is not supported")
        if firmware not in (None, "efi", "bios"):
            raise _unsupported(f"firmware '{firmware}' is not supported")
        if loader is not None and _yes(loader.secure):
            raise _unsupported("secure boot loaders are not supported")
        if loader is not None and loader.type == "rom":
            if not loader.path:
                raise _unsupported("<loader type='rom'> without a path")
            self.bios = loader.path
            return
        want_efi = firmware == "efi" or (loader is not None and loader.type == "pflash")
        if not want_efi:
            if loader is not None and loader.path:
                if loader.type not in (None, "rom"):
                    raise _unsupported(f"loader type '{loader.type}' is not supported")
                self.bios = loader.path
            return
        code = loader.path if loader is not None and loader.path else self.ctx.ovmf_code
        if not code:
            raise _unsupported("firmware 'efi' requested but no UEFI firmware is installed")
        if loader is None:
            loader = Loader()
            os_.loader = loader
        if loader.path is None and firmware != "efi":
            loader.path = code
        if loader.type is None:
            loader.type = "pflash"
        if loader.readonly is None:
            loader.readonly = "yes"
        ro = loader.readonly is None or _yes(loader.readonly)
        if not ro:
            # a writable loader keeps its own variables: no separate NVRAM
            if os_.nvram is not None:
                raise _unsupported("<nvram> with a writable <loader> is not supported")
            self.add_pflash(0, code, False)
            return
        nvram = os_.nvram
        nvram_path = nvram.path.strip() if nvram is not None and nvram.path else None
        if nvram_path is None:
            nvram_path = self.ctx.nvram_path
            if nvram_path is None:
                raise _internal("no NVRAM path for the UEFI variable store")
            if nvram is None:
                nvram = OsNvram()
                os_.nvram = nvram
            nvram.path = nvram_path
            if nvram.template is None and self.ctx.ovmf_vars_template and firmware != "efi":
                nvram.template = self.ctx.ovmf_vars_template
        self.add_pflash(0, code, True)
        self.add_pflash(1, nvram_path, False)

    def add_pflash(self, unit: int, path: str, readonly: bool) -> None:
        storage = f"libvirt-pflash{unit}-storage"
        fmt = f"libvirt-pflash{unit}-format"
        self.add("-blockdev", json_arg({"driver": "file", "filename": path,
                                        "node-name": storage, "auto-read-only": True,
                                        "discard": "unmap"}))
        self.add("-blockdev", json_arg({"node-name": fmt, "read-only": readonly,
                                        "driver": "raw", "file": storage}))
        self.pflash.append(fmt)

    # ---------------------------------------------------------------- device preparation

    def prepare_devices(self) -> None:
        """Aliases, implicit controllers, balloon, MACs, PCI addresses (written into the def)."""
        dev = self.dev
        for disk in dev.disks:
            if disk.target is not None and disk.target.bus is None and disk.target.dev:
                disk.target.bus = disk_bus_for_target(disk.target.dev)
            if disk.backing_store is not None and disk.backing_store.type is not None:
                raise _unsupported("disk backing chains in the definition are not supported")
            alias = _set_alias(disk, disk_alias(disk, self.family))
            self.cmd.aliases[alias] = disk
        self.implicit_controllers()
        for c in dev.controllers:
            alias = _set_alias(c, self.controller_alias(c))
            self.cmd.aliases[alias] = c
        for i, iface in enumerate(dev.interfaces):
            alias = _set_alias(iface, f"net{i}")
            self.cmd.aliases[alias] = iface
            if iface.mac is None:
                iface.mac = Mac()
            if not iface.mac.address:
                iface.mac.address = _random_mac()
        if dev.memballoon is None:
            dev.memballoon = MemBalloon()
            dev.memballoon.model = "virtio"
        if dev.memballoon.model == "virtio":
            self.cmd.aliases[_set_alias(dev.memballoon, "balloon0")] = dev.memballoon
        for kind, items in (("video", dev.videos), ("input", dev.inputs), ("rng", dev.rngs),
                            ("sound", dev.sounds), ("redir", dev.redirdevs)):
            for i, item in enumerate(items):
                self.cmd.aliases[_set_alias(item, f"{kind}{i}")] = item
        if dev.watchdog is not None:
            self.cmd.aliases[_set_alias(dev.watchdog, "watchdog0")] = dev.watchdog
        self.assign_pci()
        self.assign_usb()
        self.assign_virtio_serial()

    def assign_usb(self) -> None:
        """USB ports of USB input, sound and redirection devices without an address
        (usbaddr.assign_usb_addresses); a malformed controller ``ports`` is refused here."""
        ctrl = next((c for c in self.dev.controllers
                     if c.type == "usb" and (c.index or "0") == "0"), None)
        if ctrl is not None and ctrl.model not in (None, "none") and ctrl.ports:
            _int(ctrl.ports, "ports")
        usbaddr.assign_usb_addresses(self.dev)

    def assign_virtio_serial(self) -> None:
        """virtio-serial ports of channels: the first free ones from port 1 on controller
        0 bus 0 (qemuDomainAssignVirtioSerialAddresses; virtio consoles keep none)."""
        consoles = [c for c in self.dev.consoles
                    if c.target is not None and c.target.type == "virtio"]
        channels = [c for c in self.dev.channels
                    if c.target is not None and c.target.type == "virtio"]
        used = {_int(c.address.port, "port") for c in (*consoles, *channels)
                if c.address is not None and c.address.type == "virtio-serial"
                and c.address.port is not None and (c.address.controller or "0") == "0"
                and (c.address.bus or "0") == "0"}
        for devs, start in ((channels, 1),):
            for chr_dev in devs:
                addr = chr_dev.address
                if addr is not None and addr.type is not None and addr.port is not None:
                    continue
                if addr is not None and addr.type not in (None, "virtio-serial"):
                    continue
                port = start
                while port in used:
                    port += 1
                used.add(port)
                if addr is None or addr.type is None:
                    addr = Address()
                    addr.type, addr.controller, addr.bus = "virtio-serial", "0", "0"
                    chr_dev.address = addr
                addr.port = str(port)

    def controller_alias(self, c: Controller) -> str:
        idx = c.index or "0"
        if c.type == "usb":
            return "usb" if idx == "0" else f"usb{idx}"
        if c.type == "ide":
            return "ide"
        if c.type == "sata" and self.family == "q35" and idx == "0":
            return "ide"
        if c.type == "pci":
            return "pci.0" if idx == "0" and self.family == "pc" else (
                "pcie.0" if idx == "0" else f"pci.{idx}")
        return f"{c.type}{idx}"

    def implicit_controllers(self) -> None:
        dev = self.dev
        # PCI controllers without an index (virt-install writes root ports so) get the next
        # free ones after the root, as libvirt's post-parse gives them
        used = {_int(c.index, "index") for c in dev.controllers
                if c.type == "pci" and c.index is not None}
        for c in dev.controllers:
            if c.type == "pci" and c.index is None and c.model not in ("pci-root", "pcie-root"):
                idx = 1
                while idx in used:
                    idx += 1
                c.index = str(idx)
                used.add(idx)
        have = {(c.type, c.index or "0") for c in dev.controllers}

        def need(kind: str, index: int, model: str | None = None) -> None:
            if (kind, str(index)) in have:
                return
            c = Controller()
            c.type = kind
            c.index = str(index)
            c.model = model
            dev.controllers.append(c)
            have.add((kind, str(index)))

        for disk in dev.disks:
            bus = disk.target.bus if disk.target is not None else None
            if bus in ("ide", "sata", "scsi") and disk.address is not None:
                ctrl = _int(disk.address.controller or "0", "drive address")
                need(bus, ctrl, "virtio-scsi" if bus == "scsi" else None)
        for c in dev.controllers:
            if c.type == "scsi" and c.model is None:
                c.model = "virtio-scsi"
        if not any(c.type == "usb" for c in dev.controllers):
            # libvirt's default USB controller (model='none' opts out): qemu-xhci on q35
            need("usb", 0, "qemu-xhci" if self.family == "q35" else "piix3-uhci")
        virtio_serial = [ch for ch in (*dev.channels, *dev.consoles)
                         if ch.target is not None and ch.target.type == "virtio"]
        if virtio_serial:
            need("virtio-serial", 0)
        root = "pcie-root" if self.family == "q35" else "pci-root"
        need("pci", 0, root)
        for c in dev.controllers:
            if c.type == "usb" and c.model is None:
                c.model = "piix3-uhci"  # written without a model: libvirt's x86 default

    def assign_pci(self) -> None:
        """PCI addresses for devices without one, on the root bus, in libvirt's order
        (qemuDomainAssignDevicePCISlots): primary video, PCI controllers, NICs, other
        controllers, virtio disks, balloon, RNGs, watchdog, other videos, virtio inputs."""
        self.used_slots = _used_pci(self.d)
        dev = self.dev
        videos = [v for v in dev.videos if v.model is None or v.model.type != "none"]
        self.has_video = bool(videos)
        if videos:
            self.take_slot(videos[0], 2 if self.family == "pc" else 1)
        if self.family == "q35" and (0, 0x1B) not in self.used_slots:
            # the ICH9 HD audio of real Q35 hardware is at 00:1b.0
            # (qemuDomainValidateDevicePCISlotsQ35)
            hda = next((s for s in dev.sounds if s.model == "ich9"
                        and (s.address is None or s.address.type is None)), None)
            if hda is not None:
                self.take_slot(hda, 0x1B)
        for c in dev.controllers:
            if c.type == "pci" and c.model not in ("pci-root", "pcie-root"):
                self.take_slot(c)
        for iface in dev.interfaces:
            self.take_slot(iface)
        for snd in dev.sounds:
            if snd.model in command_sound.PCI_MODELS:
                self.take_slot(snd)
        for c in parse_order(dev.controllers):  # USB2 companion slots go by index
            if c.type == "pci":
                continue
            if c.type == "ide" and self.family == "pc":
                if c.address is None:
                    c.address = _pci_address(1, 1)
                continue
            if c.type == "sata" and self.family == "q35" and (c.index or "0") == "0":
                if c.address is None:
                    c.address = _pci_address(0x1F, 2)
                continue
            if c.type == "usb" and c.model == "none":
                continue
            if c.type == "usb" and self.family == "pc" and c.model == "piix3-uhci" \
                    and c.address is None:
                c.address = _pci_address(1, 2)
                continue
            if c.type == "usb" and c.model in _ICH9_FUNCTIONS:
                self._place_usb2(c)
                continue
            self.take_slot(c)
        for disk in dev.disks:
            if disk.target is not None and disk.target.bus == "virtio":
                self.take_slot(disk)
        if dev.memballoon is not None and dev.memballoon.model == "virtio":
            self.take_slot(dev.memballoon)
        for rng in dev.rngs:
            self.take_slot(rng)
        if dev.watchdog is not None and dev.watchdog.model == "i6300esb":
            self.take_slot(dev.watchdog)
        for v in videos[1:]:
            self.take_slot(v)
        for inp in dev.inputs:
            if inp.bus == "virtio":
                self.take_slot(inp)

    def _place_usb2(self, c: Controller) -> None:
        """An ICH9 USB2 controller without an address, in controller order
        (qemuDomainAssignDevicePCISlots): on the slot another controller of its index
        already has, else on the next free slot; its function by model (EHCI 7, UHCI
        companions 0-2, function 0 multifunction)."""
        if c.address is not None:
            return
        index = c.index or "0"
        placed = next((o.address for o in self.dev.controllers
                       if o is not c and o.type == "usb" and o.model in _ICH9_FUNCTIONS
                       and (o.index or "0") == index and o.address is not None
                       and o.address.type == "pci" and o.address.slot is not None), None)
        if placed is not None:
            slot = _int(placed.slot, "PCI slot")
            bus = _int(placed.bus, "PCI bus") if placed.bus is not None else 0
        else:
            holder = Controller()
            self.take_slot(holder)
            assert holder.address is not None
            slot, bus = _int(holder.address.slot, "PCI slot"), 0
        func = _ICH9_FUNCTIONS[c.model or ""]
        c.address = _pci_address(slot, func, bus=bus)
        if func == 0:
            c.address.multifunction = "on"

    # ---------------------------------------------------------------- devices

    def controllers(self) -> None:
        dev = self.dev
        # libvirt's order (qemuBuildControllersCommandLine): by type, then index
        ordered = sorted(dev.controllers, key=lambda c: (_CONTROLLER_ORDER.get(c.type or "", 9),
                                                          _int(c.index or "0", "index"),
                                                          c.master is not None))
        for c in ordered:
            alias = c.alias.name if c.alias is not None and c.alias.name else ""
            kind, model = c.type, c.model
            if kind == "pci":
                if model in ("pci-root", "pcie-root"):
                    if (model == "pcie-root") != (self.family == "q35") or c.index not in (
                            None, "0"):
                        raise _unsupported(f"PCI controller model '{model}' does not fit "
                                           f"machine type '{self.machine}'")
                    continue
                if model != "pcie-root-port" or self.family != "q35":
                    raise _unsupported(f"PCI controller model '{model}' is not supported")
                idx = _int(c.index or "0", "controller index")
                target = c.target
                chassis = _int(target.chassis, "chassis") if target and target.chassis else idx
                port = _int(target.port, "port") if target and target.port else idx
                self.device({"driver": "pcie-root-port", "port": port, "chassis": chassis,
                             "id": alias, **_pci_props(c.address, self.family)})
            elif kind == "usb":
                if model == "none":
                    continue
                driver = _USB_MODELS.get(model or "")
                if driver is None:
                    raise _unsupported(f"USB controller model '{model}' is not supported")
                self.require_device(driver)
                usb: dict[str, Any] = {"driver": driver}
                if c.master is not None or model in _ICH9_STARTPORT:
                    # a UHCI companion of an EHCI controller (libvirt gives a companion
                    # written without <master> the start port of its model)
                    start = c.master.startport if c.master is not None else None
                    usb["masterbus"] = f"{self.controller_alias(c)}.0"
                    usb["firstport"] = (_int(start, "startport") if start is not None
                                        else _ICH9_STARTPORT[model or ""])
                    self.device({**usb, **_pci_props(c.address, self.family)})
                    continue
                if c.ports is not None:
                    if not driver.endswith("xhci"):
                        raise _unsupported(f"USB controller model '{model}' has no ports "
                                           "setting")
                    usb["p2"] = usb["p3"] = _int(c.ports, "ports")
                self.device({**usb, "id": alias, **_pci_props(c.address, self.family)})
            elif kind == "scsi":
                driver = _SCSI_MODELS.get(model or "")
                if driver is None:
                    raise _unsupported(f"SCSI controller model '{model}' is not supported")
                self.require_device(driver)
                self.device({"driver": driver, "id": alias,
                             **_pci_props(c.address, self.family)})
            elif kind == "sata":
                if self.family == "q35" and (c.index or "0") == "0":
                    continue  # the ICH9 AHCI built into q35
                self.device({"driver": "ahci", "id": alias, **_pci_props(c.address, self.family)})
            elif kind == "ide":
                if self.family != "pc" or (c.index or "0") != "0":
                    raise _unsupported("IDE controllers are unsupported for this QEMU binary "
                                       "or machine type")
            elif kind == "virtio-serial":
                props: dict[str, Any] = {"driver": "virtio-serial-pci", "id": alias}
                if c.ports is not None:
                    props["max_ports"] = _int(c.ports, "ports")
                props.update(_pci_props(c.address, self.family))
                self.device(props)
            else:
                raise _unsupported(f"controller type '{kind}' is not supported")
            if c.model_name is not None and c.model_name.name not in (None, "pcie-root-port"):
                raise _unsupported(f"controller model name '{c.model_name.name}' is not "
                                   "supported")

    def disks(self) -> None:
        # libvirt numbers block nodes walking the disks from the last one
        # (qemuProcessPrepareDomainStorage): the first of N disks is libvirt-N-*
        count = len(self.dev.disks)
        for i, disk in enumerate(self.dev.disks):
            n = count - i
            if disk.target is not None and disk.target.tray == "open" and disk.device != "cdrom":
                raise _unsupported("tray is only valid for cdrom and floppy")
            alias = str(disk.alias.name) if disk.alias is not None else ""
            fdset = self._fdset(disk)
            blockdevs = disk_blockdev_args(disk, n, self.ctx.volumes, key_secrets=True,
                                           fdset=fdset)
            if fdset is not None and fdset.fds:  # before the storage node that opens it
                self.add(*diskfds.add_fd_args(fdset, blockdevs[0]["node-name"]))
            if blockdevs and disk_encryption(disk) is not None and self.ctx.secrets is not None:
                secret = disk_passphrase(disk, self.ctx.secrets)
                self.add("-object", json_arg(aes_secret_object(
                    encryption_secret_alias(blockdevs[1]["node-name"]),
                    master_key(self.ctx.runtime_dir), secret)))
            for props in blockdevs:
                self.add("-blockdev", json_arg(props))
            storage = blockdevs[0]["node-name"] if blockdevs else None
            fmt = blockdevs[1]["node-name"] if blockdevs else None
            if blockdevs and disk.source is not None:
                disk.source.index = str(n)
            self.device(disk_device_args(disk, alias, self.family, fmt,
                                         self.bootindex.get(id(disk))))
            target = _target_dev(disk)
            self.cmd.disks[target] = DiskNodes(alias, target, storage, fmt)

    def _fdset(self, disk: Disk) -> diskfds.DiskFDSet | None:
        """A ``<source fdgroup>`` disk's fd set (None for other disks; a placeholder for a
        re-attach, which needs only the names)."""
        if diskfds.fdgroup_of(disk) is None:
            return None
        if self.ctx.fdsets is None:
            return diskfds.PLACEHOLDER
        fdset = self.ctx.fdsets.get(_target_dev(disk))
        if fdset is None:
            raise _internal(f"no fd set prepared for disk '{_target_dev(disk)}'")
        return fdset

    def interfaces(self) -> None:
        for i, iface in enumerate(self.dev.interfaces):
            alias = str(iface.alias.name) if iface.alias is not None else f"net{i}"
            netdev = f"host{alias}"
            self.add("-netdev", json_arg(net_netdev_args(iface, netdev)))
            model = iface.model.type if iface.model is not None else None
            if model in _NIC_MODELS:
                self.require_device(_NIC_MODELS[model])
            self.device(net_device_args(iface, alias, netdev, self.family,
                                        self.bootindex.get(id(iface))))
            self.cmd.netdevs[alias] = netdev

    def chardevs(self) -> None:
        dev = self.dev
        serial_ports: set[int] = set()
        for i, s in enumerate(dev.serials):
            port = _int(s.target.port, "serial port") if s.target and s.target.port else i
            self.isa_serial(s, f"serial{i}", port)
            serial_ports.add(port)
        for i, con in enumerate(dev.consoles):
            ttype = con.target.type if con.target is not None and con.target.type else "serial"
            if ttype == "serial":
                port = _int(con.target.port, "console port") if con.target and \
                    con.target.port else 0
                if port in serial_ports:
                    # the console is a view of that serial port (libvirt: same alias)
                    _set_alias(con, f"serial{port}")
                    self.cmd.aliases.setdefault(f"console{i}", con)
                    continue
                self.isa_serial(con, f"serial{port}", port)
                serial_ports.add(port)
            elif ttype == "virtio":
                alias = _set_alias(con, f"console{i}")
                chr_id = f"char{alias}"
                self.add("-chardev", _chardev_opts(con, chr_id, self.ctx.runtime_dir))
                vport = (_vioserial_props(con.address) if con.address is not None
                         and con.address.type is not None else {})
                self.device({"driver": "virtconsole", **vport, "chardev": chr_id,
                             "id": alias})
                self.cmd.chardevs[alias] = chr_id
                self.cmd.aliases[alias] = con
            else:
                raise _unsupported(f"console target type '{ttype}' is not supported")
        for i, ch in enumerate(dev.channels):
            ch_type = ch.target.type if ch.target is not None else None
            if ch_type != "virtio":
                raise _unsupported(f"channel target type '{ch_type}' is not supported")
            alias = _set_alias(ch, f"channel{i}")
            chr_id = f"char{alias}"
            self.add("-chardev", _chardev_opts(ch, chr_id, self.ctx.runtime_dir))
            props: dict[str, Any] = {"driver": "virtserialport", **_vioserial_props(ch.address)}
            props["chardev"] = chr_id
            props["id"] = alias
            if ch.type == "spicevmc" and ch.target is not None and not ch.target.name:
                ch.target.name = command_usbredir.SPICE_AGENT_CHANNEL
            name = ch.target.name if ch.target is not None else None
            if name:
                props["name"] = name
            self.device(props)
            self.cmd.chardevs[alias] = chr_id
            self.cmd.aliases[alias] = ch

    def isa_serial(self, s: ChrDevice, alias: str, port: int) -> None:
        ttype = s.target.type if s.target is not None else None
        if ttype not in (None, "isa-serial", "serial"):
            raise _unsupported(f"serial target type '{ttype}' is not supported")
        if s.address is not None and s.address.type is not None:
            raise _unsupported("addresses of ISA serial ports are not supported")
        alias = _set_alias(s, alias)
        chr_id = f"char{alias}"
        self.add("-chardev", _chardev_opts(s, chr_id, self.ctx.runtime_dir))
        self.device({"driver": "isa-serial", "chardev": chr_id, "id": alias, "index": port})
        self.cmd.chardevs[alias] = chr_id
        self.cmd.aliases[alias] = s

    def inputs(self) -> None:
        usb_names = {"tablet": "usb-tablet", "mouse": "usb-mouse", "keyboard": "usb-kbd"}
        virtio_names = {"tablet": "virtio-tablet-pci", "mouse": "virtio-mouse-pci",
                        "keyboard": "virtio-keyboard-pci"}
        for inp in self.dev.inputs:
            alias = str(inp.alias.name) if inp.alias is not None else ""
            bus = inp.bus or ("usb" if inp.type == "tablet" else "ps2")
            if inp.type not in usb_names:
                raise _unsupported(f"input type '{inp.type}' is not supported")
            if bus == "ps2":
                if inp.type == "tablet":
                    raise _unsupported("ps2 bus does not support tablet input device")
                continue  # the i8042 of the PC platform
            if bus == "usb":
                props: dict[str, Any] = {"driver": usb_names[inp.type], "id": alias,
                                         "bus": "usb.0"}
                addr = inp.address
                if addr is not None and addr.type == "usb":
                    props["bus"] = f"usb.{_int(addr.bus or '0', 'USB bus')}"
                    if addr.port:
                        props["port"] = addr.port
                elif addr is not None and addr.type is not None:
                    raise _unsupported(f"address type '{addr.type}' is not supported for "
                                       "USB input devices")
                self.device(props)
            elif bus == "virtio":
                self.device({"driver": virtio_names[inp.type], "id": alias,
                             **_pci_props(inp.address, self.family)})
            else:
                raise _unsupported(f"input bus '{bus}' is not supported")

    def graphics(self) -> None:
        gfx = self.dev.graphics
        # libvirt adds <audio id='1' type='none'/> without graphics and with VNC, type
        # 'spice' with SPICE graphics (qemuDomainDefSuggestDefaultAudioBackend)
        default = "spice" if any(g.type == "spice" for g in gfx) else "none"
        for audio in self.dev.audios:
            if audio.type not in ("none", default) or audio.id not in (None, "1"):
                raise _unsupported(f"audio backend '{audio.type}' is not supported")
        backend = self.dev.audios[0].type if self.dev.audios else default
        self.add("-audiodev", json_arg({"id": _AUDIO_ID, "driver": backend}))
        kinds = [g.type for g in gfx]  # qemuBuildCommandLineValidate: one of each type
        if any(kinds.count(k) > 1 for k in ("sdl", "vnc", "spice", "egl-headless", "dbus")):
            raise _unsupported("only 1 graphics device of each type "
                               "(sdl, vnc, spice, headless, dbus) is supported")
        spice_socket = os.path.join(self.ctx.runtime_dir, "spice.sock")
        for g in gfx:
            if g.type == "spice":
                self.add(*command_spice.spice_args(g, self.ctx.spice, lambda: spice_socket))
            elif g.type == "vnc":
                self.vnc(g)
            else:
                raise _unsupported(f"graphics type '{g.type}' is not supported")

    def vnc(self, g: Graphics) -> None:
        """``-vnc`` for one VNC display (qemuBuildGraphicsVNCCommandLine)."""
        listen = g.listens[0] if g.listens else None
        # the legacy socket attribute wins over the listens (virDomainGraphicsDefParseXMLVNC)
        ltype = "socket" if g.socket else (
            listen.type if listen is not None and listen.type else "address")
        if ltype == "none":
            value = "none"
        elif ltype == "socket":
            path = (listen.socket if listen is not None else None) or g.socket
            if not path:
                path = os.path.join(self.ctx.runtime_dir, "vnc.sock")
                if listen is not None:
                    listen.socket = path
                    listen.autoGenerated = listen.autoGenerated or "yes"
                else:
                    g.socket = path
            value = f"vnc=unix:{opt_escape(path)}"
        elif ltype in ("address", "network"):  # a network's address resolved at start
            addr = (listen.address if listen is not None else None) or g.listen or "127.0.0.1"
            if listen is not None and not listen.address:  # vnc_listen, as the live XML shows
                listen.address = addr
            port = _int(g.port, "VNC port") if g.port is not None else -1
            if port < 5900:
                raise _internal("VNC port not allocated (autoport is the driver's job)")
            host = f"[{addr}]" if ":" in addr else addr
            value = f"{host}:{port - 5900}"
        else:
            raise _unsupported(f"graphics listen type '{ltype}' is not supported")
        if g.passwd is not None or self.ctx.spice.vnc_password is not None:
            value += ",password=on"  # set with QMP set_password before the CPUs run
        self.add("-vnc", f"{value},audiodev=audio1")

    def videos(self) -> None:
        first = True
        for v in self.dev.videos:
            model = v.model.type if v.model is not None and v.model.type else "vga"
            if model == "none":
                continue
            alias = str(v.alias.name) if v.alias is not None else ""
            table = _VIDEO_PRIMARY if first else _VIDEO_SECONDARY
            driver = table.get(model)
            if driver is None:
                raise _unsupported(f"video type '{model}' is not supported"
                                   + ("" if first else " as a secondary video device"))
            self.require_device(driver)
            props: dict[str, Any] = {"driver": driver, "id": alias}
            vm = v.model or VideoModel()
            if model != "qxl":  # virDomainVideoDefValidate
                for attr, value in (("ram", vm.ram), ("vram64", vm.vram64),
                                    ("vgamem", vm.vgamem)):
                    if value is not None:
                        raise _unsupported(f"{attr} attribute only supported for video "
                                           "type qxl")
            if model in ("virtio",):
                props["max_outputs"] = _int(vm.heads, "heads") if vm.heads else 1
            elif model == "qxl":
                props["max_outputs"] = _int(vm.heads, "heads") if vm.heads else 1
                props["ram_size"] = _int(vm.ram or "65536", "ram") * 1024
                props["vram_size"] = _int(vm.vram or "65536", "vram") * 1024
                # libvirt: always with QEMU's vram64 support (0 without <model vram64>)
                props["vram64_size_mb"] = _int(vm.vram64 or "0", "vram64") // 1024
                props["vgamem_mb"] = _int(vm.vgamem or "16384", "vgamem") // 1024
            elif model == "vga":  # libvirt sizes VGA and bochs memory by vram (16 MiB)
                props["vgamem_mb"] = _int(vm.vram or "16384", "vram") // 1024
            elif model == "bochs":
                props["vgamem"] = _int(vm.vram or "16384", "vram") * 1024
            props.update(_pci_props(v.address, self.family))
            self.device(props)
            first = False

    def usb_props(self, dev: Any, what: str) -> dict[str, Any]:
        """``bus``/``port`` of a USB device (``usb.0`` without an address)."""
        addr = dev.address
        if addr is None or addr.type is None:
            return {"bus": "usb.0"}
        if addr.type != "usb":
            raise _unsupported(f"address type '{addr.type}' is not supported for {what}")
        props: dict[str, Any] = {"bus": f"usb.{_int(addr.bus or '0', 'USB bus')}"}
        if addr.port:
            props["port"] = addr.port
        return props

    def sounds(self) -> None:
        for snd in self.dev.sounds:
            alias = str(snd.alias.name) if snd.alias is not None else ""
            model = snd.model or ""
            if model in command_sound.PCI_MODELS:
                address = _pci_props(snd.address, self.family)
            elif model in command_sound.USB_MODELS:
                address = self.usb_props(snd, "USB sound devices")
            else:
                if snd.address is not None and snd.address.type is not None:
                    raise _unsupported(f"address type '{snd.address.type}' is not supported "
                                       "for ISA sound devices")
                address = {}
            for props in command_sound.sound_device_args(snd, alias, _AUDIO_ID, address):
                self.require_device(props["driver"])
                self.device(props)

    def redirdevs(self) -> None:
        for i, r in enumerate(self.dev.redirdevs):
            alias = _set_alias(r, f"redir{i}")
            chr_id = f"char{alias}"
            if r.type == "spicevmc":
                self.add("-chardev", command_usbredir.spicevmc_opts(chr_id, "usbredir"))
            elif r.type == "unix":
                chr_dev = ChrDevice()
                chr_dev.type, chr_dev.sources = r.type, r.sources
                self.add("-chardev", _chardev_opts(chr_dev, chr_id, self.ctx.runtime_dir))
                r.sources = chr_dev.sources
            else:
                raise _unsupported(f"character device type '{r.type}' is not supported")
            self.require_device("usb-redir")
            boot = int(r.boot.order) if r.boot and r.boot.order is not None else None
            self.device(command_usbredir.redirdev_device_args(
                r, alias, self.dev.redirfilter, self.usb_props(r, "USB redirection"), boot))
            self.cmd.chardevs[alias] = chr_id
            self.cmd.aliases[alias] = r

    def watchdog(self) -> None:
        w = self.dev.watchdog
        if w is None:
            return
        alias = str(w.alias.name) if w.alias is not None else "watchdog0"
        if w.model == "i6300esb":
            self.device({"driver": "i6300esb", "id": alias, **_pci_props(w.address, self.family)})
        elif w.model == "ib700":
            self.device({"driver": "ib700", "id": alias})
        elif w.model == "itco":
            if self.family != "q35":
                raise _unsupported("iTCO watchdog is only available on q35 machines")
            self.add("-global", "ICH9-LPC.noreboot=off")
        else:
            raise _unsupported(f"watchdog model '{w.model}' is not supported")
        action = _WATCHDOG_ACTIONS.get(w.action or "reset")
        if action is None:
            raise _unsupported(f"watchdog action '{w.action}' is not supported")
        self.add("-watchdog-action", action)

    def balloon(self) -> None:
        b = self.dev.memballoon
        if b is None or b.model == "none":
            return
        if b.model != "virtio":
            raise _unsupported(f"memballoon model '{b.model}' is not supported")
        alias = str(b.alias.name) if b.alias is not None else "balloon0"
        self.device({"driver": "virtio-balloon-pci", "id": alias,
                     **_pci_props(b.address, self.family)})

    def rngs(self) -> None:
        for i, rng in enumerate(self.dev.rngs):
            if rng.model not in (None, "virtio"):
                raise _unsupported(f"rng model '{rng.model}' is not supported")
            backend = rng.backend or RngBackend()
            obj_id = f"objrng{i}"
            if backend.model in (None, "random"):
                self.add("-object", json_arg({"qom-type": "rng-random", "id": obj_id,
                                              "filename": backend.path or "/dev/urandom"}))
            elif backend.model == "builtin":
                self.add("-object", json_arg({"qom-type": "rng-builtin", "id": obj_id}))
            else:
                raise _unsupported(f"rng backend model '{backend.model}' is not supported")
            alias = str(rng.alias.name) if rng.alias is not None else f"rng{i}"
            props: dict[str, Any] = {"driver": "virtio-rng-pci", "rng": obj_id, "id": alias}
            if rng.rate is not None and rng.rate.bytes:
                props["max-bytes"] = _int(rng.rate.bytes, "rng rate")
                props["period"] = _int(rng.rate.period or "1000", "rng period")
            props.update(_pci_props(rng.address, self.family))
            self.device(props)

    def panics(self) -> None:
        for p in self.dev.panics:
            if p.model not in (None, "isa"):
                raise _unsupported(f"panic model '{p.model}' is not supported")
            props: dict[str, Any] = {"driver": "pvpanic"}
            if p.address is not None and p.address.type == "isa" and p.address.iobase:
                props["ioport"] = _int(p.address.iobase, "iobase")
            elif p.address is not None and p.address.type is not None:
                raise _unsupported(f"address type '{p.address.type}' is not supported for "
                                   "panic devices")
            self.require_device("pvpanic")
            self.device(props)
