"""SPICE graphics, spicevmc channels, USB redirection and sound in the QEMU command line.

Specific rules and refusals by assertion (libvirt 9.0's qemuBuildGraphicsSPICECommandLine,
qemuBuildSoundCommandLine, qemuBuildRedirdevCommandLine); whole command lines against
libvirtd's own are in test_argv_oracle.py and test_command_spice_oracle.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from virtkit.conf.domain import DomainDef
from virtkit.drivers.qemu import command, command_spice
from virtkit.drivers.qemu.command import CommandContext, build, build_command, check_supported
from virtkit.errors import ErrorCode, VirtError

QEMU = "/usr/bin/qemu-system-x86_64"


def ctx(**over: object) -> CommandContext:
    base: dict[str, object] = dict(
        emulator=QEMU, qmp_socket="/run/vk/dom/qmp.sock", pid_file="/run/vk/dom/qemu.pid",
        log_file="/var/log/vk/dom.log", runtime_dir="/run/vk/dom", kvm_available=False)
    base.update(over)
    return CommandContext(**base)  # type: ignore[arg-type]


def domain(devices: str, machine: str = "q35") -> DomainDef:
    return DomainDef.from_xml(
        f"<domain type='qemu'><name>t</name><memory unit='MiB'>128</memory>"
        f"<os><type arch='x86_64' machine='{machine}'>hvm</type></os>"
        f"<devices>{devices}</devices></domain>")


def argv_of(devices: str, machine: str = "q35", **over: object) -> list[str]:
    return build_command(domain(devices, machine), ctx(**over))


def opt(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == name]


def devs(argv: list[str]) -> list[dict[str, object]]:
    return [json.loads(v) for v in opt(argv, "-device")]


def refused(devices: str, machine: str = "q35") -> VirtError:
    with pytest.raises(VirtError) as exc:
        d = domain(devices, machine)
        check_supported(d)
        build(d, ctx())
    return exc.value


SPICE = "<graphics type='spice' port='5930'/>"


def test_spice_port_listen_and_audio() -> None:
    argv = argv_of(SPICE)
    assert opt(argv, "-spice") == ["port=5930,addr=127.0.0.1,disable-ticketing=on,"
                                   "seamless-migration=on"]
    assert opt(argv, "-audiodev") == ['{"id":"audio1","driver":"spice"}']
    assert "-display" not in argv


def test_spice_options_in_libvirt_order() -> None:
    argv = argv_of(
        "<graphics type='spice' port='5930' keymap='de' defaultMode='insecure'>"
        "<listen type='address' address='0.0.0.0'/>"
        "<channel name='main' mode='insecure'/><channel name='inputs' mode='insecure'/>"
        "<image compression='auto_glz'/><jpeg compression='never'/>"
        "<zlib compression='always'/><playback compression='off'/>"
        "<streaming mode='filter'/><mouse mode='client'/><clipboard copypaste='no'/>"
        "<filetransfer enable='no'/></graphics>")
    assert opt(argv, "-spice") == [
        "port=5930,addr=0.0.0.0,agent-mouse=on,disable-ticketing=on,"
        "plaintext-channel=default,plaintext-channel=main,plaintext-channel=inputs,"
        "image-compression=auto_glz,jpeg-wan-compression=never,"
        "zlib-glz-wan-compression=always,playback-compression=off,streaming-video=filter,"
        "disable-copy-paste=on,disable-agent-file-xfer=on,seamless-migration=on"]
    assert opt(argv, "-k") == ["de"]


def test_spice_listen_none_and_socket() -> None:
    assert opt(argv_of("<graphics type='spice'><listen type='none'/></graphics>"),
               "-spice") == ["port=0,disable-ticketing=on,seamless-migration=on"]
    d = domain("<graphics type='spice'><listen type='socket'/></graphics>")
    argv = build_command(d, ctx())
    assert opt(argv, "-spice") == ["unix,addr=/run/vk/dom/spice.sock,disable-ticketing=on,"
                                   "seamless-migration=on"]
    assert d.devices is not None
    assert d.devices.graphics[0].listens[0].socket == "/run/vk/dom/spice.sock"


def test_spice_password_stays_off_the_command_line() -> None:
    d = domain("<graphics type='spice' port='5930' passwd='s3cret' connected='keep' "
               "passwdValidTo='2001-01-01T00:00:00'/>")
    argv = build_command(d, ctx())
    assert "s3cret" not in " ".join(argv)
    assert opt(argv, "-spice") == ["port=5930,addr=127.0.0.1,seamless-migration=on"]
    assert d.devices is not None
    cmds = command_spice.password_commands(d.devices.graphics[0], now=1e9)
    assert cmds == [("set_password", {"protocol": "spice", "password": "s3cret",
                                      "connected": "keep"}),
                    ("expire_password", {"protocol": "spice", "time": "now"})]
    g = d.devices.graphics[0]
    g.passwdValidTo = None
    assert command_spice.password_commands(g)[1][1]["time"] == "never"


def test_tls_port_needs_spice_tls() -> None:
    err = refused("<graphics type='spice' port='5930' tlsPort='5931'/>")
    assert err.code == ErrorCode.CONFIG_UNSUPPORTED
    assert err.message.endswith("spice TLS port set in XML configuration, but TLS is "
                                "disabled in qemu.conf")
    tls = command_spice.SpiceConfig(tls=True, tls_x509_cert_dir="/etc/pki/x,y")
    argv = argv_of("<graphics type='spice' port='5930' tlsPort='5931' defaultMode='secure'/>",
                   spice=tls)
    assert opt(argv, "-spice") == ["port=5930,tls-port=5931,addr=127.0.0.1,"
                                   "disable-ticketing=on,x509-dir=/etc/pki/x,,y,"
                                   "tls-channel=default,seamless-migration=on"]


def test_secure_channel_without_tls_is_refused() -> None:
    err = refused("<graphics type='spice' port='5930'><channel name='main' mode='secure'/>"
                  "</graphics>")
    assert err.code == ErrorCode.CONFIG_UNSUPPORTED
    assert "spice secure channels set in XML configuration, but TLS connection is not " \
           "available" in err.message


def test_autoport_allocation() -> None:
    d = domain("<graphics type='spice' autoport='yes' tlsPort='-1' port='-1'/>")
    assert d.devices is not None
    g = d.devices.graphics[0]
    taken = {5900}
    command_spice.allocate_ports(g, command_spice.SpiceConfig(), taken,
                                 free=lambda p: p != 5901)
    assert (g.port, g.tlsPort, g.autoport) == ("5902", None, "yes")
    g2 = domain("<graphics type='spice' autoport='yes' defaultMode='secure'/>")
    assert g2.devices is not None
    with pytest.raises(VirtError) as exc:
        command_spice.allocate_ports(g2.devices.graphics[0], command_spice.SpiceConfig(),
                                     set(), free=lambda p: True)
    assert exc.value.message.endswith("Auto allocation of spice TLS port requested but "
                                      "spice TLS is disabled in qemu.conf")
    g3 = domain("<graphics type='spice' autoport='yes' defaultMode='secure'/>")
    assert g3.devices is not None
    command_spice.allocate_ports(g3.devices.graphics[0],
                                 command_spice.SpiceConfig(tls=True), set(),
                                 free=lambda p: True)
    assert (g3.devices.graphics[0].port, g3.devices.graphics[0].tlsPort) == (None, "5900")


def test_vnc_password_on_and_its_rules(tmp_path: Path) -> None:
    """-vnc ...,password=on with a passwd (the password itself goes by QMP set_password),
    or with qemu.conf's vnc_password; connected='keep' only (virDomainGraphicsAuthDefParseXML)."""
    vnc = "<graphics type='vnc' port='5901' passwd='s3cret' passwdValidTo='2001-01-01T00:00:00'/>"
    argv = argv_of(vnc)
    assert opt(argv, "-vnc") == ["127.0.0.1:1,password=on,audiodev=audio1"]
    assert "s3cret" not in " ".join(argv)
    d = domain(vnc)
    assert d.devices is not None
    assert command_spice.password_commands(d.devices.graphics[0], now=1e9) == [
        ("set_password", {"protocol": "vnc", "password": "s3cret", "connected": "keep"}),
        ("expire_password", {"protocol": "vnc", "time": "now"})]
    assert opt(argv_of("<graphics type='vnc' port='5901'/>"), "-vnc") == [
        "127.0.0.1:1,audiodev=audio1"]
    conf = tmp_path / "qemu.conf"
    conf.write_text('vnc_password = "fromconf"\n')
    cfg = command_spice.load_config(str(conf))
    assert cfg.vnc_password == "fromconf" and cfg.password is None
    g = domain("<graphics type='vnc' port='5901'/>").devices.graphics[0]  # type: ignore[union-attr]
    assert command_spice.default_password(g, cfg) == "fromconf"
    argv = argv_of("<graphics type='vnc' port='5901'/>", spice=cfg)
    assert opt(argv, "-vnc") == ["127.0.0.1:1,password=on,audiodev=audio1"]
    err = refused("<graphics type='vnc' port='5901' passwd='x' connected='disconnect'/>")
    assert (err.code, err.message) == (ErrorCode.CONFIG_UNSUPPORTED,
                                       "unsupported configuration: VNC supports "
                                       "connected='keep' only")
    err = refused("<graphics type='vnc' port='5901' passwd='x' connected='bogus'/>")
    assert err.message == "unsupported configuration: unknown connected value bogus"


def test_vnc_still_refuses_spice_attributes() -> None:
    for extra in ("tlsPort='5901'", "defaultMode='any'"):
        err = refused(f"<graphics type='vnc' port='5900' {extra}/>")
        name = extra.split("=")[0]
        assert err.message.endswith(f"attribute '{name}' of <domain/devices/graphics> is "
                                    "not supported by the qemu driver")
    err = refused("<graphics type='vnc' port='5900'><image compression='off'/></graphics>")
    assert "element <domain/devices/graphics/image>" in err.message


def test_spicevmc_channel_and_redirdevs() -> None:
    d = domain(SPICE + "<channel type='spicevmc'><target type='virtio'/></channel>"
               "<input type='tablet' bus='usb'/>"
               "<redirdev bus='usb' type='spicevmc'/><redirdev bus='usb' type='spicevmc'/>"
               "<redirfilter><usbdev class='0x08' vendor='0x1234' product='0xBEEF' "
               "version='2.0' allow='yes'/><usbdev allow='no'/></redirfilter>")
    argv = build_command(d, ctx())
    chardevs = opt(argv, "-chardev")
    assert "spicevmc,id=charchannel0,name=vdagent" in chardevs
    assert chardevs[-2:] == ["spicevmc,id=charredir0,name=usbredir",
                             "spicevmc,id=charredir1,name=usbredir"]
    by_id = {x.get("id"): x for x in devs(argv)}
    assert by_id["channel0"]["name"] == "com.redhat.spice.0"
    assert by_id["input0"]["port"] == "1"
    filt = "0x08:0x1234:0xBEEF:0x0200:1|-1:-1:-1:-1:0"
    assert by_id["redir0"] == {"driver": "usb-redir", "chardev": "charredir0", "id": "redir0",
                               "filter": filt, "bus": "usb.0", "port": "2"}
    assert by_id["redir1"]["port"] == "3"
    assert d.devices is not None
    assert d.devices.redirdevs[1].address is not None
    assert d.devices.redirdevs[1].address.port == "3"


def test_spicevmc_needs_spice_graphics() -> None:
    for dev in ("<channel type='spicevmc'><target type='virtio'/></channel>",
                "<redirdev bus='usb' type='spicevmc'/>"):
        err = refused("<graphics type='vnc' port='5900'/>" + dev)
        assert err.code == ErrorCode.CONFIG_UNSUPPORTED
        assert err.message.endswith("chardev 'spicevmc' not supported without spice "
                                    "graphics")


def test_redirdev_needs_usb() -> None:
    err = refused(SPICE + "<controller type='usb' model='none'/>"
                  "<redirdev bus='usb' type='spicevmc'/>")
    assert err.message.endswith("cannot add redirected USB device: USB is disabled for "
                                "this domain")


def test_spicevmc_channel_name() -> None:
    err = refused(SPICE + "<channel type='spicevmc'><target type='virtio' name='x.y'/>"
                  "</channel>")
    assert err.message.endswith("Unsupported spicevmc target name 'x.y'")


@pytest.mark.parametrize("model,driver,slot", [
    ("ich9", "ich9-intel-hda", "0x1b"), ("ich6", "intel-hda", "0x2"),
    ("ac97", "AC97", "0x2"), ("es1370", "ES1370", "0x2")])
def test_pci_sound_models(model: str, driver: str, slot: str) -> None:
    argv = argv_of(f"<sound model='{model}'/>")
    sound = next(x for x in devs(argv) if x.get("id") == "sound0")
    assert sound["driver"] == driver and sound["addr"] == slot
    assert sound["bus"] == "pcie.0"
    codec = [x for x in devs(argv) if x.get("bus") == "sound0.0"]
    if model in ("ich6", "ich9"):
        assert "audiodev" not in sound
        assert codec == [{"driver": "hda-duplex", "id": "sound0-codec0", "bus": "sound0.0",
                          "cad": 0, "audiodev": "audio1"}]
    else:
        assert sound["audiodev"] == "audio1" and codec == []
    assert opt(argv, "-audiodev") == ['{"id":"audio1","driver":"none"}']


def test_sound_codecs_isa_and_usb() -> None:
    argv = argv_of("<sound model='ich9'><codec type='micro'/><codec type='output'/></sound>"
                   "<sound model='sb16'/><sound model='usb'/>", machine="pc")
    by_id = {x.get("id"): x for x in devs(argv)}
    assert by_id["sound0-codec0"]["driver"] == "hda-micro"
    assert by_id["sound0-codec1"] == {"driver": "hda-output", "id": "sound0-codec1",
                                      "bus": "sound0.0", "cad": 1, "audiodev": "audio1"}
    assert by_id["sound0"]["addr"] == "0x2"  # pc: no video holds slot 2
    assert by_id["sound1"] == {"driver": "sb16", "id": "sound1", "audiodev": "audio1"}
    assert by_id["sound2"] == {"driver": "usb-audio", "id": "sound2", "audiodev": "audio1",
                               "bus": "usb.0", "port": "1"}


def test_unsupported_sound_models() -> None:
    for model in ("pcspk", "ich7"):
        err = refused(f"<sound model='{model}'/>")
        assert err.code == ErrorCode.CONFIG_UNSUPPORTED
        assert f"sound card model '{model}' is not supported" in err.message


def test_qxl_primary_and_secondary() -> None:
    argv = argv_of("<video><model type='qxl' ram='32768' vram='16384' vgamem='8192' "
                   "heads='2'/></video><video><model type='qxl'/></video>")
    by_id = {x.get("id"): x for x in devs(argv)}
    assert by_id["video0"] == {"driver": "qxl-vga", "id": "video0", "max_outputs": 2,
                               "ram_size": 33554432, "vram_size": 16777216,
                               "vram64_size_mb": 0, "vgamem_mb": 8, "bus": "pcie.0",
                               "addr": "0x1"}
    assert by_id["video1"]["driver"] == "qxl"


def test_builder_limits_for_domain_capabilities() -> None:
    assert {"vnc", "spice"} <= command.GRAPHICS_TYPES
    assert "spicevmc" in command.CHARDEV_TYPES
    assert {"sounds", "redirdevs"} <= command.device_kinds()
    assert {"qxl", "virtio"} <= command.video_types()


def test_hyperv_enlightenments_and_hypervclock() -> None:
    d = DomainDef.from_xml(
        "<domain type='qemu'><name>w</name><memory unit='MiB'>128</memory>"
        "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
        "<features><acpi/><hyperv mode='custom'><relaxed state='on'/><vapic state='off'/>"
        "<spinlocks state='on' retries='8191'/><stimer state='on'><direct state='on'/>"
        "</stimer><vendor_id state='on' value='KVMKVMKVM'/></hyperv></features>"
        "<clock offset='localtime'><timer name='hypervclock' present='yes'/></clock>"
        "<devices/></domain>")
    argv = build_command(d, ctx())
    assert opt(argv, "-cpu") == ["qemu64,hv-time=on,hv-relaxed=on,hv-spinlocks=0x1fff,"
                                 "hv-stimer=on,hv-stimer-direct=on,hv-vendor-id=KVMKVMKVM"]


@pytest.mark.parametrize("hyperv,message", [
    ("<spinlocks state='on' retries='100'/>", "spinlock retry count must be at least 4095"),
    ("<vendor_id state='on' value='0123456789abc'/>", "must not be more than 12"),
    ("<vendor_id state='on' value='a,b'/>", "HyperV vendor_id value is invalid"),
])
def test_hyperv_values_refused_as_libvirt(hyperv: str, message: str) -> None:
    d = DomainDef.from_xml(
        "<domain type='qemu'><name>w</name><memory unit='MiB'>128</memory>"
        f"<os><type arch='x86_64'>hvm</type></os><features><hyperv>{hyperv}</hyperv>"
        "</features><devices/></domain>")
    with pytest.raises(VirtError) as exc:
        check_supported(d)
    assert exc.value.code == ErrorCode.XML_ERROR and message in exc.value.message


def test_qemu_conf_spice_settings(tmp_path: Path) -> None:
    conf = tmp_path / "qemu.conf"
    assert command_spice.load_config(str(conf)) == command_spice.SpiceConfig(
        tls_x509_cert_dir=command_spice.load_config(str(conf)).tls_x509_cert_dir)
    conf.write_text(f'spice_tls = 1\nspice_tls_x509_cert_dir = "{tmp_path}"\n'
                    'spice_listen = "0.0.0.0"\nspice_password = "pw"\n# a comment\n')
    cfg = command_spice.load_config(str(conf))
    assert cfg == command_spice.SpiceConfig(tls=True, tls_x509_cert_dir=str(tmp_path),
                                            listen="0.0.0.0", password="pw")
    argv = argv_of("<graphics type='spice' port='5930' tlsPort='5931'/>", spice=cfg)
    assert opt(argv, "-spice") == [f"port=5930,tls-port=5931,addr=0.0.0.0,x509-dir={tmp_path},"
                                   "seamless-migration=on"]
    conf.write_text('spice_tls = 1\nspice_tls_x509_cert_dir = "/nonexistent/pki"\n')
    with pytest.raises(VirtError) as exc:
        command_spice.load_config(str(conf))
    assert "spice_tls_x509_cert_dir directory '/nonexistent/pki' does not exist" in \
        exc.value.message
    conf.write_text("spice_tls = = 1\n")
    with pytest.raises(VirtError) as exc:
        command_spice.load_config(str(conf))
    assert exc.value.code == ErrorCode.CONF_SYNTAX
