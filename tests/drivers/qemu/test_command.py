"""Domain XML -> QEMU command line (virtkit.drivers.qemu.command) and host QEMU capabilities.

Specific rules and error cases, by assertion. Whole command lines are compared with
libvirtd 9.0's own (data/NAME.xml and the conformance inputs) in test_argv_oracle.py.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from virtkit.conf.dev_disk import Disk
from virtkit.conf.dev_net import Interface
from virtkit.conf.devices import device_from_xml
from virtkit.conf.domain import DomainDef
from virtkit.drivers.qemu import qemucaps
from virtkit.drivers.qemu.command import (
    CommandContext,
    build,
    build_command,
    disk_blockdev_args,
    disk_device_args,
    free_hotplug_address,
    net_device_args,
    net_netdev_args,
    opt_escape,
)
from virtkit.errors import ErrorCode, VirtError

DATA = Path(__file__).parent / "data"
QEMU = "/usr/bin/qemu-system-x86_64"


def ctx(**over: object) -> CommandContext:
    base: dict[str, object] = dict(
        emulator=QEMU, qmp_socket="/run/vk/dom/qmp.sock", pid_file="/run/vk/dom/qemu.pid",
        log_file="/var/log/vk/dom.log", runtime_dir="/run/vk/dom", kvm_available=True,
        ovmf_code="/usr/share/OVMF/OVMF_CODE.fd",
        ovmf_vars_template="/usr/share/OVMF/OVMF_VARS.fd",
        nvram_path="/var/lib/vk/nvram/dom_VARS.fd",
    )
    base.update(over)
    return CommandContext(**base)  # type: ignore[arg-type]


CONTEXTS: dict[str, CommandContext] = {
    "q35-full": ctx(start_paused=True),
    "pc-minimal": ctx(kvm_available=False),
    "pc-efi-kernel": ctx(incoming="defer"),
    "kvm-passthrough": ctx(),
}


def load(name: str) -> DomainDef:
    return DomainDef.from_xml((DATA / f"{name}.xml").read_text())


def minimal(devices: str = "", dtype: str = "qemu", extra: str = "", machine: str = "pc") -> str:
    return (f"<domain type='{dtype}'><name>t</name><memory unit='MiB'>128</memory>"
            f"<os><type arch='x86_64' machine='{machine}'>hvm</type></os>{extra}"
            f"<devices>{devices}</devices></domain>")


def build_xml(xml: str, **over: object) -> list[str]:
    return build_command(DomainDef.from_xml(xml), ctx(**over))


def opt(argv: list[str], name: str) -> list[str]:
    """Every value of option ``name``."""
    return [argv[i + 1] for i, a in enumerate(argv) if a == name]


def devices(argv: list[str]) -> list[dict[str, object]]:
    return [json.loads(v) for v in opt(argv, "-device")]


# ============================================================================ data files


def test_every_data_file_has_a_context() -> None:
    assert {p.stem for p in DATA.glob("*.xml")} == set(CONTEXTS)


def test_live_xml_gets_aliases_addresses_and_paths() -> None:
    d = load("q35-full")
    cmd = build(d, CONTEXTS["q35-full"])
    devs = d.devices
    assert devs is not None
    assert [x.alias.name for x in devs.disks if x.alias] == ["virtio-disk0", "sata0-0-0",
                                                              "scsi0-0-0-1"]
    assert devs.disks[0].address is not None and devs.disks[0].address.type == "pci"
    # libvirt numbers block nodes from the last disk: the first of three is libvirt-3
    assert devs.disks[0].source is not None and devs.disks[0].source.index == "3"
    assert devs.channels[0].source is not None
    assert devs.channels[0].source.path == "/run/vk/dom/org.qemu.guest_agent.0"
    assert cmd.disks["vda"].format_node == "libvirt-3-format"
    assert cmd.disks["sda"].alias == "sata0-0-0"
    assert cmd.chardevs == {"serial0": "charserial0", "channel0": "charchannel0"}
    assert cmd.netdevs == {"net0": "hostnet0", "net1": "hostnet1"}
    assert cmd.family == "q35" and cmd.accel == "kvm"
    # the live XML shows them, and reading it back builds the same command line
    again = DomainDef.from_xml(d.to_xml())
    assert build_command(again, CONTEXTS["q35-full"]) == cmd.argv
    assert "<alias name='virtio-disk0'/>" in d.to_xml()


def test_efi_nvram_written_back() -> None:
    d = load("pc-efi-kernel")
    build(d, CONTEXTS["pc-efi-kernel"])
    assert d.os is not None and d.os.nvram is not None
    assert d.os.nvram.path == "/var/lib/vk/nvram/dom_VARS.fd"
    assert d.os.loader is not None and d.os.loader.type == "pflash"


# ============================================================================ pieces


def test_name_with_comma_is_escaped() -> None:
    argv = build_command(load("pc-efi-kernel"), CONTEXTS["pc-efi-kernel"])
    assert opt(argv, "-name") == ["guest=efi,,guest,debug-threads=on"]
    assert opt_escape("a,b,,c") == "a,,b,,,,c"


def test_boot_order_from_os_boot() -> None:
    argv = build_command(load("q35-full"), CONTEXTS["q35-full"])
    boot = {d["id"]: d.get("bootindex") for d in devices(argv) if "id" in d}
    assert boot["sata0-0-0"] == 1 and boot["virtio-disk0"] == 2
    assert boot["scsi0-0-0-1"] is None and boot["net0"] is None


def test_boot_network() -> None:
    argv = build_command(load("pc-minimal"), CONTEXTS["pc-minimal"])
    boot = {d["id"]: d.get("bootindex") for d in devices(argv) if "id" in d}
    assert boot["ide0-0-0"] == 1 and boot["net0"] == 2


def test_per_device_boot_with_os_boot_is_refused() -> None:
    xml = minimal("<disk type='file'><source file='/a'/><target dev='vda'/><boot order='1'/>"
                  "</disk>").replace("<os><type arch='x86_64' machine='pc'>hvm</type>",
                                     "<os><type arch='x86_64' machine='pc'>hvm</type>"
                                     "<boot dev='hd'/>")
    with pytest.raises(VirtError) as exc:
        build_xml(xml)
    assert exc.value.code == ErrorCode.XML_ERROR


@pytest.mark.parametrize(("mode", "direct", "noflush", "wcache"), [
    ("none", True, False, "on"), ("writeback", False, False, "on"),
    ("writethrough", False, False, "off"), ("directsync", True, False, "off"),
    ("unsafe", False, True, "on"),
])
def test_cache_modes(mode: str, direct: bool, noflush: bool, wcache: str) -> None:
    argv = build_xml(minimal(f"<disk type='file'><driver name='qemu' type='raw' cache='{mode}'/>"
                             "<source file='/a'/><target dev='vda' bus='virtio'/></disk>"))
    storage, fmt = (json.loads(v) for v in opt(argv, "-blockdev"))
    assert storage["cache"] == {"direct": direct, "no-flush": noflush} == fmt["cache"]
    assert devices(argv)[1]["write-cache"] == wcache  # [0] is the USB controller


def test_native_io_needs_direct_cache() -> None:
    with pytest.raises(VirtError, match="native I/O"):
        build_xml(minimal("<disk type='file'><driver name='qemu' cache='writeback' io='native'/>"
                          "<source file='/a'/><target dev='vda'/></disk>"))


def test_scsi_and_sata_implicit_controllers_on_pc() -> None:
    argv = build_xml(minimal("<disk type='file'><source file='/a'/><target dev='sda' bus='sata'/>"
                             "</disk><disk type='file'><source file='/b'/>"
                             "<target dev='sdh' bus='scsi'/></disk>"))
    drivers = {d["driver"]: d for d in devices(argv)}
    assert drivers["ahci"]["id"] == "sata0"
    assert drivers["virtio-scsi-pci"]["id"] == "scsi1"  # sdh -> controller 1, unit 0
    assert drivers["ide-hd"]["bus"] == "sata0.0"
    assert drivers["scsi-hd"]["bus"] == "scsi1.0" and drivers["scsi-hd"]["id"] == "scsi1-0-0-0"


def test_explicit_pci_address_is_honoured() -> None:
    argv = build_xml(minimal("<interface type='user'><mac address='52:54:00:00:00:01'/>"
                             "<model type='e1000'/><address type='pci' domain='0x0000' "
                             "bus='0x00' slot='0x03' function='0x0'/></interface>"
                             "<interface type='user'><model type='rtl8139'/></interface>"))
    nics = [d for d in devices(argv) if d["driver"] in ("e1000", "rtl8139")]
    assert nics[0]["addr"] == "0x3" and nics[0]["bus"] == "pci.0"
    assert nics[1]["addr"] == "0x2"  # no video: slot 2 is free on pc, as in libvirt
    assert str(nics[1]["mac"]).startswith("52:54:00:")


def test_smp_and_memory() -> None:
    argv = build_command(load("pc-efi-kernel"), CONTEXTS["pc-efi-kernel"])
    assert opt(argv, "-m") == ["1024"]
    assert opt(argv, "-smp") == ["2,sockets=2,cores=1,threads=1"]
    # guest RAM is a memory-backend object the machine names (libvirt 9.0, QEMU >= 5.0)
    assert json.loads(opt(argv, "-object")[0]) == {
        "qom-type": "memory-backend-ram", "id": "pc.ram", "size": 1024 ** 3}
    assert ",dump-guest-core=off,memory-backend=pc.ram," in opt(argv, "-machine")[0]
    assert opt(argv, "-overcommit") == ["mem-lock=off"]
    small = build_xml(minimal().replace("<memory unit='MiB'>128</memory>",
                                        "<memory unit='KiB'>1000</memory>"))
    assert opt(small, "-m") == ["1"]  # rounded up to whole MiB
    topo = build_xml(minimal(extra="<vcpu>4</vcpu><cpu><topology sockets='2' cores='2' "
                                   "threads='1'/></cpu>"))
    assert opt(topo, "-smp") == ["4,sockets=2,dies=1,cores=2,threads=1"]


def test_memory_hotplug_needs_numa() -> None:
    with pytest.raises(VirtError) as exc:
        build_xml(minimal(extra="<maxMemory slots='4' unit='GiB'>4</maxMemory>"))
    assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert "At least one numa node has to be configured when enabling memory hotplug" in str(
        exc.value)


def test_audiodev_always() -> None:
    """libvirt's implicit <audio type='none'/> without graphics and with VNC."""
    assert opt(build_xml(minimal()), "-audiodev") == ['{"id":"audio1","driver":"none"}']


def test_itco_watchdog() -> None:
    argv = build_xml(minimal("<watchdog model='itco' action='poweroff'/>", machine="q35"))
    assert opt(argv, "-global")[-1] == "ICH9-LPC.noreboot=off"
    assert opt(argv, "-watchdog-action") == ["poweroff"]
    with pytest.raises(VirtError, match="only available on q35"):
        build_xml(minimal("<watchdog model='itco'/>"))


def test_vgamem_only_for_qxl() -> None:
    with pytest.raises(VirtError, match="vgamem attribute only supported for video type qxl"):
        build_xml(minimal("<graphics type='vnc' port='5900'/><video>"
                          "<model type='vga' vgamem='16384'/></video>"))


def test_topology_must_match_vcpus() -> None:
    with pytest.raises(VirtError, match="topology"):
        build_xml(minimal(extra="<cpu><topology sockets='1' cores='3' threads='1'/></cpu>"))


def test_lifecycle_flags() -> None:
    assert "-no-shutdown" in build_xml(minimal())
    argv = build_command(load("pc-efi-kernel"), CONTEXTS["pc-efi-kernel"])
    assert "-no-reboot" in argv and "-no-shutdown" not in argv
    assert "-no-acpi" in build_xml(minimal()) and "-no-acpi" not in argv


def test_display_none_without_graphics() -> None:
    assert opt(build_xml(minimal()), "-display") == ["none"]
    assert opt(build_command(load("q35-full"), CONTEXTS["q35-full"]), "-display") == []


def test_cpu_modes() -> None:
    assert opt(build_xml(minimal()), "-cpu") == ["qemu64"]
    assert opt(build_xml(minimal(dtype="kvm", extra="<cpu mode='host-model'/>")), "-cpu") == [
        "host,migratable=on"]
    assert opt(build_xml(minimal(extra="<cpu mode='host-model'/>")), "-cpu") == ["max"]
    assert opt(build_xml(minimal(extra="<cpu mode='maximum'/>")), "-cpu") == ["max"]


# ============================================================================ errors


def test_host_passthrough_needs_kvm() -> None:
    with pytest.raises(VirtError) as exc:
        build_xml(minimal(extra="<cpu mode='host-passthrough'/>"))
    assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert str(exc.value) == ("unsupported configuration: CPU mode 'host-passthrough' for x86_64 "
                              "qemu domain on x86_64 host is not supported by hypervisor")


def test_kvm_without_dev_kvm() -> None:
    with pytest.raises(VirtError) as exc:
        build_xml(minimal(dtype="kvm"), kvm_available=False)
    assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert "does not support virt type 'kvm'" in str(exc.value)


@pytest.mark.parametrize(("snippet", "named"), [
    ("<disk type='file'><source file='/a'/><target dev='vda'/><iotune><total_bytes_sec>1"
     "</total_bytes_sec></iotune></disk>", "<domain/devices/disk/iotune>"),
    ("<filesystem type='mount'><source dir='/a'/><target dir='b'/></filesystem>",
     "<domain/devices/filesystem>"),
    ("<hostdev mode='subsystem' type='pci'/>", "<domain/devices/hostdev>"),
    ("<disk type='network'><source protocol='nbd' name='x'/><target dev='vda'/></disk>",
     "'protocol' of <domain/devices/disk/source>"),
    ("<graphics type='sdl'/>", "graphics type 'sdl'"),
    ("<disk type='file' frob='1'><source file='/a'/><target dev='vda'/></disk>",
     "'frob' of <domain/devices/disk>"),
    ("<sound model='pcspk'/>", "sound card model 'pcspk'"),
    ("<serial type='tcp'><source mode='bind' host='::' service='4444'/></serial>",
     "'host' of <domain/devices/serial/source>"),
    ("<interface type='direct'><source dev='eth0' mode='bridge'/></interface>",
     "'dev' of <domain/devices/interface/source>"),
    ("<disk type='file' device='cdrom'><source file='/a'/><target dev='vda' bus='virtio'/>"
     "</disk>", "cdrom"),
])
def test_unsupported_elements_are_named(snippet: str, named: str) -> None:
    with pytest.raises(VirtError) as exc:
        build_xml(minimal(snippet))
    assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert named in str(exc.value)


def test_unsupported_top_level() -> None:
    with pytest.raises(VirtError, match="<domain/memoryBacking>"):
        build_xml(minimal(extra="<memoryBacking><hugepages/></memoryBacking>"))
    with pytest.raises(VirtError, match="microvm"):
        build_xml(minimal(machine="microvm"))
    with pytest.raises(VirtError, match="IDE controllers"):
        build_xml(minimal("<disk type='file'><source file='/a'/><target dev='hda'/></disk>",
                          machine="q35"))


def test_unknown_machine_with_caps() -> None:
    caps = qemucaps.QemuCaps(QEMU, (7, 2, 0), {"pc": "pc-i440fx-7.2"}, "pc-i440fx-7.2",
                             frozenset())
    with pytest.raises(VirtError, match=r"does not support machine type 'pc-i440fx-1\.0'"):
        build_xml(minimal(machine="pc-i440fx-1.0"), caps=caps)


def test_qxl_only_if_available() -> None:
    caps = qemucaps.QemuCaps(QEMU, (7, 2, 0), {"pc": "pc-i440fx-7.2"}, "pc-i440fx-7.2",
                             frozenset({"piix3-usb-uhci", "virtio-balloon-pci"}))
    with pytest.raises(VirtError, match="qxl-vga"):
        build_xml(minimal("<graphics type='vnc' port='5900'/><video><model type='qxl'/>"
                          "</video>"), caps=caps)


def test_vnc_port_must_be_allocated() -> None:
    with pytest.raises(VirtError) as exc:
        build_xml(minimal("<graphics type='vnc' autoport='yes'/>"))
    assert exc.value.code == ErrorCode.INTERNAL_ERROR


# ============================================================================ hot-plug helpers


def test_hotplug_dicts_match_command_line() -> None:
    _, disk = device_from_xml("<disk type='file' device='disk'><driver name='qemu' "
                              "type='qcow2'/><source file='/img/x.qcow2'/>"
                              "<target dev='vdb' bus='virtio'/></disk>")
    assert isinstance(disk, Disk)
    storage, fmt = disk_blockdev_args(disk, 7)
    assert storage["node-name"] == "libvirt-7-storage" and fmt["file"] == "libvirt-7-storage"
    disk.address = free_hotplug_address(DomainDef.from_xml(minimal()))
    dev = disk_device_args(disk, "virtio-disk1", "pc", fmt["node-name"])
    assert dev == {"driver": "virtio-blk-pci", "bus": "pci.0", "addr": "0x3",
                   "drive": "libvirt-7-format", "id": "virtio-disk1"}
    _, iface = device_from_xml("<interface type='ethernet'><mac address='52:54:00:00:00:09'/>"
                               "<target dev='tap9'/><model type='virtio'/></interface>")
    assert isinstance(iface, Interface)
    assert net_netdev_args(iface, "hostnet3") == {
        "type": "tap", "ifname": "tap9", "script": "no", "downscript": "no", "id": "hostnet3"}
    assert net_device_args(iface, "net3", "hostnet3", "pc")["driver"] == "virtio-net-pci"


def test_free_hotplug_address_q35_uses_root_ports() -> None:
    xml = minimal("<controller type='pci' index='0' model='pcie-root'/>"
                  "<controller type='pci' index='1' model='pcie-root-port'/>"
                  "<controller type='pci' index='2' model='pcie-root-port'/>"
                  "<interface type='user'><address type='pci' bus='0x01' slot='0x00'/>"
                  "</interface>", machine="q35")
    addr = free_hotplug_address(DomainDef.from_xml(xml))
    assert (addr.bus, addr.slot) == ("0x02", "0x00")
    with pytest.raises(VirtError):
        free_hotplug_address(DomainDef.from_xml(minimal(machine="q35")))


# ============================================================================ qemucaps


def test_caps_parsers() -> None:
    machines, default = qemucaps.parse_machine_help(
        "Supported machines are:\n"
        "pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n"
        "pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)\n"
        "q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)\n"
        "pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)\n")
    assert machines["q35"] == "pc-q35-7.2" and machines["pc-q35-7.2"] == "pc-q35-7.2"
    assert default == "pc-i440fx-7.2"
    devs = qemucaps.parse_device_help(
        'Storage devices:\nname "ich9-ahci", bus PCI, alias "ahci"\n'
        'name "virtio-blk-pci", bus PCI, alias "virtio-blk"\n')
    assert {"ich9-ahci", "ahci", "virtio-blk-pci"} <= devs
    assert qemucaps.parse_version("QEMU emulator version 7.2.22 (Debian 1:7.2)") == (7, 2, 22)


def test_probe_real_binary() -> None:
    caps = qemucaps.probe(QEMU)
    assert caps.version >= (7, 2, 0)
    assert caps.canonical_machine("q35", ).startswith("pc-q35-")  # type: ignore[union-attr]
    assert caps.has_device("virtio-blk-pci") and caps.has_device("isa-serial")
    assert qemucaps.probe(QEMU) is caps  # cached
    assert qemucaps.find_emulator() is not None


# ============================================================================ the real binary


def _image(tmp: Path, name: str, fmt: str) -> str:
    path = tmp / name
    if fmt == "qcow2":
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    else:
        path.write_bytes(b"\0" * 1024 * 1024)
    return str(path)


@pytest.mark.parametrize("name", ["q35-full", "pc-minimal", "pc-efi-kernel", "kvm-passthrough"])
def test_qemu_accepts_the_command_line(name: str, tmp_path: Path) -> None:
    """QEMU parses and realises every device (TCG, paused); alive after 1 s."""
    xml = (DATA / f"{name}.xml").read_text()
    xml = xml.replace("type='kvm'", "type='qemu'").replace("mode='host-passthrough'",
                                                            "mode='maximum'")
    for src, fmt in (("/var/lib/virtkit/images/web1.qcow2", "qcow2"),
                     ("/var/lib/virtkit/images/install.iso", "raw"),
                     ("/var/lib/virtkit/images/data.img", "raw"),
                     ("/var/lib/virtkit/images/mini.img", "raw"),
                     ("/var/lib/virtkit/images/fast.qcow2", "qcow2"),
                     ("/dev/vg0/efi", "raw")):
        xml = xml.replace(f"'{src}'", f"'{_image(tmp_path, Path(src).name, fmt)}'")
    xml = xml.replace("type='block'", "type='file'").replace("source dev='", "source file='")
    xml = xml.replace("/var/log/virtkit/", f"{tmp_path}/").replace(
        "/run/console.sock", f"{tmp_path}/console.sock")
    # no tap devices here: host-side networking is the network driver's business
    xml = xml.replace("type='bridge'", "type='user'").replace("type='network'", "type='user'")
    (tmp_path / "boot").mkdir()
    xml = xml.replace("/boot/", f"{tmp_path}/boot/")
    (tmp_path / "boot" / "vmlinuz").write_bytes(b"")
    (tmp_path / "boot" / "initrd.img").write_bytes(b"")
    nvram = tmp_path / "VARS.fd"
    shutil.copyfile("/usr/share/OVMF/OVMF_VARS.fd", nvram)
    xml = xml.replace("/var/lib/virtkit/nvram/fast_VARS.fd", str(nvram))
    if "connect" in xml:  # a client console needs a listener
        import socket
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(f"{tmp_path}/console.sock")
        listener.listen(1)
    d = DomainDef.from_xml(xml)
    c = ctx(qmp_socket=str(tmp_path / "qmp.sock"), pid_file=str(tmp_path / "pid"),
            runtime_dir=str(tmp_path), nvram_path=str(nvram), start_paused=True,
            kvm_available=False, incoming=None)
    argv = build_command(d, c)
    if "-kernel" in argv:
        # an empty kernel is refused at load time; the rest is what we test
        for flag in ("-kernel", "-initrd", "-append"):
            i = argv.index(flag)
            del argv[i:i + 2]
    proc = subprocess.Popen([QEMU, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        alive = proc.poll() is None
    finally:
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate(timeout=10)[0].decode(errors="replace")
    assert alive, f"QEMU exited: {out}\nargs: {shlex.join(argv)}"
    assert os.path.exists(tmp_path / "qmp.sock")
