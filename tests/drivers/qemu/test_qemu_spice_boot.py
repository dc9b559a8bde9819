"""A TCG guest with virt-install's default devices boots and its SPICE server runs.

The devices are the ones ``virt-install --osinfo debian11`` writes on this machine
(SPICE graphics with autoport and ``tlsPort='-1'``, a spicevmc agent channel, ich9 sound,
virtio video, two spicevmc USB redirections on qemu-xhci, tablet, guest-agent channel, RNG);
the test guest's kernel boots under TCG and QMP shows the SPICE server, the sound card,
the redirection devices and the display.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import QemuRoot, console_log, domain_xml, wait_marker

from virtkit.conf.domain import DomainDef
from virtkit.errors import ErrorCode, VirtError

VIRT_INSTALL_DEVICES = """
    <controller type='usb' model='qemu-xhci' ports='15'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <channel type='unix'>
      <source mode='bind'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <channel type='spicevmc'>
      <target type='virtio' name='com.redhat.spice.0'/>
    </channel>
    <input type='tablet' bus='usb'/>
    <graphics type='spice' port='-1' tlsPort='-1' autoport='yes'>
      <image compression='off'/>
    </graphics>
    <sound model='ich9'/>
    <video><model type='virtio'/></video>
    <redirdev bus='usb' type='spicevmc'/>
    <redirdev bus='usb' type='spicevmc'/>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
"""


def _mon(conn: Any, name: str) -> Any:
    return conn.tables.hypervisor._node.by_name[name].mon


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_virt_install_defaults_boot_with_spice(guest: Any, qroot: QemuRoot) -> None:
    conn = qroot.open()
    xml = domain_xml(guest, qroot.path, "spicevm", memory_mib=192,
                     extra_devices=VIRT_INSTALL_DEVICES)
    dom = conn.define_domain(xml)
    dom.start()
    wait_marker(console_log(qroot.path, "spicevm"), guest.BOOT_MARKER, timeout=240)
    live = DomainDef.from_xml(dom.xml())
    assert live.devices is not None
    g = live.devices.graphics[0]
    assert g.type == "spice" and g.autoport == "yes" and g.tlsPort is None
    port = int(g.port or 0)
    assert port >= 5900
    assert g.listens[0].address == "127.0.0.1"
    assert [r.address.port for r in live.devices.redirdevs if r.address] == ["2", "3"]
    assert live.devices.sounds[0].address is not None
    assert live.devices.sounds[0].address.slot == "0x1b"

    mon = _mon(conn, "spicevm")
    spice = mon.execute("query-spice")
    assert spice["enabled"] is True and spice["port"] == port
    assert spice["host"] == "127.0.0.1" and spice["auth"] == "none"
    assert "tls-port" not in spice
    with socket.create_connection(("127.0.0.1", port), timeout=10):
        pass  # the SPICE server accepts connections
    assert mon.execute("query-display-options")["type"] == "none"
    qom = {d["name"]: d["type"] for d in mon.execute("qom-list", {"path": "/machine/peripheral"})}
    assert qom["sound0"] == "child<ich9-intel-hda>"
    assert qom["sound0-codec0"] == "child<hda-duplex>"
    assert qom["redir0"] == qom["redir1"] == "child<usb-redir>"
    assert qom["video0"] == "child<virtio-vga>"
    chardevs = {c["label"]: c["filename"] for c in mon.execute("query-chardev")}
    assert chardevs["charchannel1"].startswith("spicevmc")
    assert chardevs["charredir0"].startswith("spicevmc")
    dom.destroy()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_spice_password_set_before_the_guest_runs(guest: Any, qroot: QemuRoot,
                                                  tmp_path: Path) -> None:
    conn = qroot.open()
    xml = domain_xml(guest, qroot.path, "spicepw", memory_mib=128, extra_devices=(
        "<graphics type='spice' autoport='yes' passwd='0penSesame'/>"
        "<video><model type='qxl'/></video>"))
    dom = conn.define_domain(xml)
    dom.start()
    spice = _mon(conn, "spicepw").execute("query-spice")
    assert spice["enabled"] is True and spice["auth"] == "spice"
    assert "0penSesame" not in (Path(f"/proc/{_pid(conn, 'spicepw')}/cmdline")
                                .read_bytes().decode(errors="replace"))
    assert "0penSesame" not in dom.xml()
    dom.destroy()


def _pid(conn: Any, name: str) -> int:
    return int(conn.tables.hypervisor._node.by_name[name].proc.pid)


def _certs(directory: Path) -> None:
    """A self-signed CA and a server certificate signed by it (QEMU's x509-dir names)."""
    directory.mkdir()

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True,
                       timeout=120)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=vk-ca",
        "-keyout", "ca-key.pem", "-out", "ca-cert.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server-key.pem", "-out", "server.csr")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca-cert.pem", "-CAkey", "ca-key.pem",
        "-CAcreateserial", "-days", "2", "-out", "server-cert.pem")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_spice_tls_port_with_spice_tls_in_qemu_conf(guest: Any, qroot: QemuRoot) -> None:
    certs = qroot.path / "pki"
    _certs(certs)
    (qroot.path / "etc").mkdir(exist_ok=True)
    (qroot.path / "etc" / "qemu.conf").write_text(
        f'spice_tls = 1\nspice_tls_x509_cert_dir = "{certs}"\n')
    conn = qroot.open()
    xml = domain_xml(guest, qroot.path, "spicetls", memory_mib=128, extra_devices=(
        "<graphics type='spice' autoport='yes' defaultMode='secure'/>"))
    dom = conn.define_domain(xml)
    dom.start()
    g = DomainDef.from_xml(dom.xml()).devices.graphics[0]  # type: ignore[union-attr]
    assert g.port is None and g.tlsPort is not None
    spice = _mon(conn, "spicetls").execute("query-spice")
    assert spice["enabled"] is True and spice["tls-port"] == int(g.tlsPort)
    assert "port" not in spice
    dom.destroy()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_one_vnc_and_one_spice_display(guest: Any, qroot: QemuRoot) -> None:
    """libvirt allows one graphics device of each type: VNC and SPICE together run, each
    on its own autoport; two of one type are refused at start with libvirt's error."""
    conn = qroot.open()
    xml = domain_xml(guest, qroot.path, "twodisp", memory_mib=128, extra_devices=(
        "<graphics type='vnc' autoport='yes'/><graphics type='spice' autoport='yes'/>"
        "<video><model type='qxl'/></video>"))
    dom = conn.define_domain(xml)
    dom.start()
    live = DomainDef.from_xml(dom.xml())
    assert live.devices is not None
    vnc, spice = live.devices.graphics
    assert (vnc.type, spice.type) == ("vnc", "spice")
    assert int(vnc.port or 0) >= 5900 and int(spice.port or 0) >= 5900
    assert vnc.port != spice.port
    mon = _mon(conn, "twodisp")
    assert mon.execute("query-vnc")["service"] == vnc.port
    assert mon.execute("query-spice")["port"] == int(spice.port or 0)
    for port in (vnc.port, spice.port):
        with socket.create_connection(("127.0.0.1", int(port or 0)), timeout=10):
            pass
    dom.destroy()

    two = conn.define_domain(domain_xml(guest, qroot.path, "twovnc", memory_mib=128,
                                        extra_devices="<graphics type='vnc' autoport='yes'/>"
                                        "<graphics type='vnc' autoport='yes'/>"))
    with pytest.raises(VirtError) as exc:
        two.start()
    assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert exc.value.message.endswith("only 1 graphics device of each type "
                                      "(sdl, vnc, spice, headless, dbus) is supported")
    assert not two.is_active()
