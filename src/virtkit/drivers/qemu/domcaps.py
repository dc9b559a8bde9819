"""``virConnectGetDomainCapabilities`` for the QEMU driver, from the probed binary.

``resolve`` picks the emulator, arch, machine and virt type as libvirt 9.0's
``qemuConnectGetDomainCapabilities`` does (with its error texts); ``build``
turns a probe (``qemucaps_probe``) plus firmware descriptors into the
``<domainCapabilities>`` libvirt 9.0 prints for the same QEMU (see compat.md,
"Domain capabilities", for what differs). x86_64 only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from virtkit.conf.domaincaps import Elem, enum, supported
from virtkit.drivers.qemu import command, firmware
from virtkit.drivers.qemu.cpumap import X86_MODEL_VENDORS
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["ARCH_NAMES", "VIRT_TYPES", "Target", "build", "resolve"]

# libvirt's virArch names and virDomainVirtType names (for "unknown ..." errors).
_ARCHS = ("none alpha armv6l armv7l armv7b aarch64 cris i686 ia64 lm32 loongarch64 m68k "
          "microblaze microblazeel mips mipsel mips64 mips64el openrisc parisc parisc64 ppc "
          "ppcle ppc64 ppc64le ppcemb riscv32 riscv64 s390 s390x sh4 sh4eb sparc sparc64 "
          "unicore32 x86_64 xtensa xtensaeb")
_VIRT_TYPES = ("none qemu kqemu kvm xen lxc uml openvz test vmware hyperv vbox phyp "
               "parallels bhyve vz hvf")
ARCH_NAMES = frozenset(_ARCHS.split(" "))
VIRT_TYPES = frozenset(_VIRT_TYPES.split(" "))
ARCH = "x86_64"
DEFAULT_EMULATOR = "/usr/bin/qemu-system-x86_64"
VIRT_KVM = "kvm"
VIRT_QEMU = "qemu"

Probe = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """What the caller asked for, resolved: binary, arch, canonical machine, virt type."""

    emulator: str
    arch: str
    machine: str
    virttype: str


def _err(code: ErrorCode, msg: str) -> VirtError:
    return make_error(code, ErrorDomain.QEMU, msg)


def check_args(emulatorbin: str | None, arch: str | None, virttype: str | None) -> str:
    """Validate arch and virt type names; return the emulator to probe (libvirt's errors)."""
    if virttype is not None and virttype not in VIRT_TYPES:
        raise _err(ErrorCode.INVALID_ARG, f"unknown virttype: {virttype}")
    if arch is not None and arch not in ARCH_NAMES:
        raise _err(ErrorCode.INVALID_ARG, f"unknown architecture: {arch}")
    if emulatorbin:
        return emulatorbin
    if arch is not None and arch != ARCH:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                   f"unable to find any emulator to serve '{arch}' architecture")
    return DEFAULT_EMULATOR


def resolve(probe: Probe, emulator: str, arch: str | None, machine: str | None,
            virttype: str | None) -> Target:
    """The machine and virt type to describe, refused as libvirt refuses them."""
    bin_arch = _binary_arch(emulator)
    if (arch or ARCH) != bin_arch:  # libvirt defaults the arch to the host's
        raise _err(ErrorCode.INVALID_ARG,
                   f"Emulator '{emulator}' does not support arch '{arch or ARCH}'")
    if bin_arch != ARCH:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                   f"unable to find any emulator to serve '{bin_arch}' architecture")
    kvm = bool(probe["kvm"]["enabled"]) and VIRT_KVM in probe["accel"]
    vt = virttype or (VIRT_KVM if kvm else VIRT_QEMU)
    if vt not in (VIRT_QEMU, VIRT_KVM) or (vt == VIRT_KVM and not kvm):
        raise _err(ErrorCode.INVALID_ARG,
                   f"Emulator '{emulator}' does not support virt type '{vt}'")
    return Target(emulator, ARCH, _machine(probe, emulator, machine), vt)


def _binary_arch(emulator: str) -> str:
    base = os.path.basename(emulator)
    if base.startswith("qemu-system-"):
        arch = base[len("qemu-system-"):].split("-")[0]
        return "i686" if arch == "i386" else arch
    return ARCH  # qemu-kvm and other names: assumed to be the host's


def _machine(probe: Probe, emulator: str, machine: str | None) -> str:
    machines = [m for m in probe["machines"] if m["name"] != "none"]
    if machine is None:
        for m in machines:
            if m["default"]:
                return str(m["name"])
        if machines:
            return str(machines[0]["name"])
    for m in machines:
        if machine in (m["name"], m["alias"]):
            return str(m["name"])
    raise _err(ErrorCode.INVALID_ARG,
               f"the machine '{machine}' is not supported by emulator '{emulator}'")


def _has(probe: Probe, *types: str) -> bool:
    return all(t in probe["types"] for t in types)


def _pick(probe: Probe, table: tuple[tuple[str, str], ...]) -> list[str]:
    """The values whose QOM type exists in this binary ('' = always)."""
    return [v for v, t in table if not t or t in probe["types"]]


def _is_i440fx(machine: str) -> bool:
    return machine == "pc" or machine.startswith(("pc-0.", "pc-1.", "pc-i440fx-", "rhel"))


def build(probe: Probe, target: Target) -> str:
    """The ``<domainCapabilities>`` XML for ``target``."""
    cpu_max = next(m["cpu_max"] for m in probe["machines"] if m["name"] == target.machine)
    root = Elem("domainCapabilities").add(
        Elem("path", text=target.emulator), Elem("domain", text=target.virttype),
        Elem("machine", text=target.machine), Elem("arch", text=target.arch),
        Elem("vcpu", [("max", str(cpu_max))]),
        supported("iothreads", _has(probe, "iothread")),
        _os(target), _cpu(probe, target),
        supported("memoryBacking", True, [enum("sourceType", _pick(probe, (
            ("file", "memory-backend-file"), ("anonymous", ""),
            ("memfd", "memory-backend-memfd"))))]),
        _devices(probe, target), _features(probe))
    return root.format()


def _os(target: Target) -> Elem:
    fw = firmware.supported(target.machine, target.arch)
    kinds = [k for k, ok in (("bios", fw.bios), ("efi", fw.efi)) if ok]
    loaders = [p for p in (fw.executables or firmware.FALLBACK_LOADERS) if os.path.exists(p)]
    loader = supported("loader", True, [
        *(Elem("value", text=p) for p in loaders),
        enum("type", ["rom", "pflash"]), enum("readonly", ["yes", "no"]),
        enum("secure", ["yes", "no"] if fw.secure else ["no"])])
    return supported("os", True, [enum("firmware", kinds), loader])


def _host_model(emulator: str, kvm: bool) -> list[Elem]:
    """The host-model CPU as libvirt writes it in domain capabilities: the named model,
    vendor and features QEMU's expansion of ``host``/``max`` decodes to
    (virQEMUCapsInitHostCPUModel; virtkit/cpu has libvirt's decoder). Empty when the
    probe fails (libvirt then prints the mode without a model)."""
    from virtkit.drivers.qemu.cpuapi import hypervisor_cpu

    try:
        cpu = hypervisor_cpu(emulator, "kvm" if kvm else "tcg")[0]
    except (VirtError, OSError):
        return []
    from virtkit.conf.xmlutil import parse_xml
    from virtkit.cpu.cpudef import format_cpu

    return [_elem(child) for child in parse_xml(format_cpu(cpu))]


def _elem(node: Any) -> Elem:
    """An XML element (lxml or ElementTree) as an ``Elem``, attributes in order."""
    text = node.text.strip() if node.text and node.text.strip() else None
    return Elem(node.tag, list(node.attrib.items()), text=text,
                children=[_elem(c) for c in node if isinstance(c.tag, str)])


def _cpu(probe: Probe, target: Target) -> Elem:
    kvm = target.virttype == VIRT_KVM
    accel = probe["accel"][VIRT_KVM if kvm else "tcg"]
    migratable = [enum("hostPassthroughMigratable", ["on", "off"])]
    models = []
    for name, usable in accel["models"]:
        if name not in X86_MODEL_VENDORS:
            continue
        models.append(Elem("model", [("usable", "yes" if usable else "no"),
                                     ("vendor", X86_MODEL_VENDORS[name] or "unknown")],
                           text=name))
    return Elem("cpu").add(
        supported("mode", kvm, migratable, [("name", "host-passthrough")]),
        supported("mode", True, [enum("maximumMigratable", ["on", "off"])],
                  [("name", "maximum")]),
        supported("mode", True, _host_model(target.emulator, kvm), [("name", "host-model")]),
        supported("mode", True, models, [("name", "custom")]))


def _devices(probe: Probe, target: Target) -> Elem:
    virtio = ["virtio", "virtio-transitional", "virtio-non-transitional"]
    buses = (["ide"] if _is_i440fx(target.machine) else []) + ["fdc", "scsi", "virtio"]
    buses += _pick(probe, (("usb", "usb-storage"), ("sata", "ich9-ahci")))
    displays = probe["display_types"]
    commands = probe["commands"]
    spice = "query-spice" in commands
    graphics = [g for g, ok in (("sdl", "sdl" in displays), ("vnc", "query-vnc" in commands),
                                ("spice", spice), ("egl-headless", "egl-headless" in displays),
                                ("dbus", "dbus" in displays))
                if ok and g in command.GRAPHICS_TYPES]
    kinds = command.device_kinds()
    videos = command.video_types()
    vfio = (os.path.exists("/dev/vfio/vfio") and bool(_listdir("/sys/kernel/iommu_groups"))
            and _has(probe, "vfio-pci"))
    tpm_models = [m for m in ("tpm-tis", "tpm-crb") if m in probe["tpm_models"]]
    tpm_types = [t for t in ("passthrough", "emulator") if t in probe["tpm_types"]]
    if "emulator" in tpm_types:
        tpm_types.append("external")
    return Elem("devices").add(
        supported("disk", True, [enum("diskDevice", ["disk", "cdrom", "floppy", "lun"]),
                                 enum("bus", buses), enum("model", virtio)]),
        supported("graphics", True, [enum("type", graphics)]),
        supported("video", True, [enum("modelType", [m for m in _pick(probe, (
            ("vga", "VGA"), ("cirrus", "cirrus-vga"), ("vmvga", "vmware-svga"),
            ("qxl", "qxl-vga"), ("virtio", "virtio-gpu-pci"), ("none", ""),
            ("bochs", "bochs-display"), ("ramfb", "ramfb"))) if m in videos])]),
        supported("hostdev", "hostdevs" in kinds, [
            enum("mode", ["subsystem"]),
            enum("startupPolicy", ["default", "mandatory", "requisite", "optional"]),
            enum("subsysType", _pick(probe, (("usb", ""), ("pci", ""),
                                             ("scsi", "scsi-generic")))),
            enum("capsType", []), enum("pciBackend", ["default", "vfio"] if vfio else [])]),
        supported("rng", _has(probe, "virtio-rng-pci"), [enum("model", virtio), enum(
            "backendModel", _pick(probe, (("random", "rng-random"), ("egd", "rng-egd"),
                                          ("builtin", "rng-builtin"))))]),
        supported("filesystem", "filesystems" in kinds, [enum("driverType", _pick(probe, (
            ("path", ""), ("handle", ""), ("virtiofs", "vhost-user-fs-device"))))]),
        supported("tpm", bool(tpm_models and tpm_types) and "tpms" in kinds, [
            enum("model", tpm_models), enum("backendModel", tpm_types),
            enum("backendVersion", ["1.2", "2.0"])]),
        supported("redirdev", _has(probe, "usb-redir") and "redirdevs" in kinds,
                  [enum("bus", ["usb"])]),
        supported("channel", True, [enum("type", [t for t in ["pty", "unix"] + (
            ["spicevmc"] if spice else []) if t in command.CHARDEV_TYPES])]))


def _features(probe: Probe) -> Elem:
    return Elem("features").add(
        supported("gic", False),
        supported("vmcoreinfo", _has(probe, "vmcoreinfo")),
        supported("genid", _has(probe, "vmgenid")),
        supported("backingStoreInput", "blockdev-add" in probe["commands"]),
        supported("backup", "blockdev-backup" in probe["commands"]),
        supported("sev", bool(probe["sev"])),
        supported("sgx", bool(probe["sgx"])),
        supported("hyperv", True, [enum("features", ["spinlocks", "vendor_id"])]))


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
