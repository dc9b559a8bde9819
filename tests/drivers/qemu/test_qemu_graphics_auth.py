"""Graphics at start: VNC passwords (``-vnc ...,password=on``, then QMP set_password /
expire_password before the CPUs run, libvirt's qemuDomainChangeGraphicsPasswords),
``<listen type='network'>`` resolved to the network's address, and SPICE ``<gl>`` failing
at start on a host without a DRM render node, as libvirtd 9.0 does.

A VNC client's view is checked with the RFB handshake itself: QEMU offers only security
type 2 (VNC authentication) and accepts the DES response made from the right password.
"""

from __future__ import annotations

import os
import socket
import struct
import warnings
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from qemu_e2e import QemuRoot, domain_xml

import virtkit
from virtkit.constants import DomainDeviceModifyFlags, DomainXMLFlags
from virtkit.drivers.qemu import command_spice, graphics_listen
from virtkit.drivers.qemu.command import CommandContext, build_command
from virtkit.drivers.qemu.defs import parse_def
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:  # cryptography >= 43 keeps TripleDES (single DES with a repeated key) here
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:  # pragma: no cover - older cryptography
        from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

pytestmark = pytest.mark.slow

RFB_VERSION = b"RFB 003.008\n"
SEC_VNC_AUTH = 2
LIVE = int(DomainDeviceModifyFlags.LIVE)


def free_port() -> int:
    """A port the kernel has free now, from its ephemeral range: far above the 5900... that
    autoport hands out to the other QEMUs that may run beside this test."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def vnc(passwd: str, extra: str = "", port: int = 0) -> str:
    ports = f"port='{port}' autoport='no'" if port else "autoport='yes'"
    return (f"<graphics type='vnc' {ports} passwd='{passwd}'{extra}>"
            "<listen type='network' network='lan'/></graphics>")


def _recv(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    return data


def _des_response(password: str, challenge: bytes) -> bytes:
    """RFB's VNC authentication: the challenge DES-encrypted with the password (8 bytes,
    zero-padded, each byte's bits reversed)."""
    key = bytes(int(f"{b:08b}"[::-1], 2) for b in password.encode()[:8].ljust(8, b"\0"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return enc.update(challenge) + enc.finalize()


def rfb_login(port: int, password: str) -> tuple[list[int], int]:
    """(security types offered, SecurityResult) of an RFB 3.8 login with ``password``."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        assert _recv(s, 12) == RFB_VERSION
        s.sendall(RFB_VERSION)
        count = _recv(s, 1)[0]
        types = list(_recv(s, count))
        if SEC_VNC_AUTH not in types:
            return types, -1
        s.sendall(bytes([SEC_VNC_AUTH]))
        challenge = _recv(s, 16)
        s.sendall(_des_response(password, challenge))
        result: int = struct.unpack(">I", _recv(s, 4))[0]
        return types, result


def _mon(conn: Any, name: str) -> Any:
    return conn.tables.hypervisor._node.by_name[name].mon


def test_vnc_password_at_start_and_live(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    node = conn.tables.hypervisor._node
    node.network_resolver = lambda name: "lo"  # the network 'lan' has the bridge "lo"
    port = free_port()
    dom = conn.define_domain(domain_xml(guest, qroot.path, "vncpw", memory_mib=128,
                                        extra_devices=vnc("s3cret", port=port)))
    dom.start()
    live = parse_def(dom.xml())
    assert live.devices is not None
    g = live.devices.graphics[0]
    assert (g.listens[0].type, g.listens[0].network, g.listens[0].address) == (
        "network", "lan", "127.0.0.1")
    assert g.passwd is None  # shown only with VIR_DOMAIN_XML_SECURE
    assert "passwd='s3cret'" in dom.xml(int(DomainXMLFlags.SECURE))
    assert g.port == str(port)
    status = _mon(conn, "vncpw").execute("query-vnc")
    assert status["enabled"] is True and status["auth"] == "vnc"
    assert rfb_login(port, "s3cret") == ([SEC_VNC_AUTH], 0)
    assert rfb_login(port, "wrong")[1] == 1
    # UpdateDeviceFlags: a new password, then one that expired already
    dom.update_device(vnc("n3w", port=port), LIVE)
    assert rfb_login(port, "n3w") == ([SEC_VNC_AUTH], 0)
    assert rfb_login(port, "s3cret")[1] == 1
    dom.update_device(vnc("n3w", " passwdValidTo='2001-01-01T00:00:00'", port), LIVE)
    assert rfb_login(port, "n3w")[1] == 1
    assert "passwdValidTo='2001-01-01T00:00:00'" in dom.xml()
    dom.destroy()
    # without a network driver a network listen cannot start (libvirt's error)
    node.network_resolver = None
    with pytest.raises(VirtError) as exc:
        dom.start()
    assert (exc.value.code, str(exc.value)) == (
        ErrorCode.CONFIG_UNSUPPORTED, "unsupported configuration: network-based listen "
        "isn't possible, network driver isn't present")
    assert not dom.is_active()


def test_spice_gl_is_refused_at_start_without_a_render_node(qroot: QemuRoot, conn: Any,
                                                             guest: Any) -> None:
    """Define accepts SPICE ``<gl enable='yes'/>`` (this QEMU has spice gl); start looks
    for a DRM render node as libvirtd 9.0 does and fails with its error on this host."""
    dom = conn.define_domain(domain_xml(guest, qroot.path, "spicegl", memory_mib=128,
                                        extra_devices="<graphics type='spice'>"
                                        "<listen type='none'/><gl enable='yes'/></graphics>"))
    assert "<gl enable='yes'/>" in dom.xml()
    try:
        expected = command_spice.render_node()
    except VirtError as err:
        expected = err.message
    with pytest.raises(VirtError) as exc:
        dom.start()
    assert exc.value.message == expected
    if not os.path.exists("/dev/dri"):  # this host, as libvirtd 9.0 answers on it
        assert exc.value.message == ("cannot open directory '/dev/dri': No such file or "
                                     "directory")
    assert exc.value.domain == ErrorDomain.NONE
    assert not dom.is_active()


def test_render_node_and_interface_address(tmp_path: Any) -> None:
    with pytest.raises(VirtError) as exc:
        command_spice.render_node(str(tmp_path / "dri"))
    assert (exc.value.code, exc.value.message) == (
        ErrorCode.SYSTEM_ERROR, f"cannot open directory '{tmp_path}/dri': No such file or "
        "directory")
    (tmp_path / "dri").mkdir()
    (tmp_path / "dri" / "card0").touch()
    with pytest.raises(VirtError) as exc:
        command_spice.render_node(str(tmp_path / "dri"))
    assert (exc.value.code, exc.value.message) == (
        ErrorCode.INTERNAL_ERROR, "internal error: No DRM render nodes available")
    (tmp_path / "dri" / "renderD128").touch()
    assert command_spice.render_node(str(tmp_path / "dri")) == f"{tmp_path}/dri/renderD128"
    assert graphics_listen.interface_address("lo") == "127.0.0.1"
    with pytest.raises(VirtError, match="no IP address found for interface 'vk-nosuch0'"):
        graphics_listen.interface_address("vk-nosuch0")
    d = parse_def("<domain type='qemu'><name>t</name><memory unit='MiB'>64</memory>"
                  "<os><type arch='x86_64'>hvm</type></os><devices>"
                  "<graphics type='spice' autoport='yes'><listen type='network'/></graphics>"
                  "</devices></domain>")
    graphics_listen.resolve_network_listens(d, None, {"spice": "192.0.2.1", "vnc": "x"})
    assert d.devices is not None and d.devices.graphics[0].listens[0].address == "192.0.2.1"
    # SPICE on a network's address: -spice addr= as for an address listen
    d = parse_def("<domain type='qemu'><name>t</name><memory unit='MiB'>64</memory>"
                  "<os><type arch='x86_64'>hvm</type></os><devices>"
                  "<graphics type='spice' port='5930'><listen type='network' network='lan'/>"
                  "</graphics></devices></domain>")
    graphics_listen.resolve_network_listens(d, lambda name: "lo", {"spice": "x", "vnc": "x"})
    ctx = CommandContext(emulator="/usr/bin/qemu-system-x86_64", qmp_socket="/run/vk/q.sock",
                         pid_file="/run/vk/q.pid", log_file="/run/vk/q.log",
                         runtime_dir="/run/vk", kvm_available=False)
    argv = build_command(d, ctx)
    assert argv[argv.index("-spice") + 1] == "port=5930,addr=127.0.0.1,disable-ticketing=on," \
        "seamless-migration=on"


def test_network_errors_stand(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    """The network driver's own error for a network that is not there."""
    dom = conn.define_domain(domain_xml(guest, qroot.path, "vncnet", memory_mib=128,
                                        extra_devices=vnc("x")))
    with pytest.raises(virtkit.VirtError) as exc:
        dom.start()
    assert exc.value.code == ErrorCode.NO_NETWORK
    assert str(exc.value) == "Network not found: no network with matching name 'lan'"


def test_listen_types_start(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    """socket (a generated path in the live XML), none, and a network listen without a
    network (qemu.conf's spice_listen, as libvirt) start and QEMU serves them so."""
    cases = [
        ("<graphics type='spice'><listen type='socket'/></graphics>", "query-spice",
         lambda q, d: q["host"] == f"{d.run_dir}/spice.sock"),
        ("<graphics type='spice'><listen type='none'/></graphics>", "query-spice",
         lambda q, d: q["enabled"] and q.get("port") is None),
        ("<graphics type='vnc'><listen type='socket'/></graphics>", "query-vnc",
         lambda q, d: (q["family"], q["service"]) == ("unix", f"{d.run_dir}/vnc.sock")),
        ("<graphics type='spice' autoport='yes' passwd='x'><listen type='network'/>"
         "</graphics>", "query-spice",
         lambda q, d: (q["host"], q["auth"]) == ("127.0.0.1", "spice") and q["port"] > 0),
    ]
    node = conn.tables.hypervisor._node
    for i, (gfx, query, check) in enumerate(cases):
        dom = conn.define_domain(domain_xml(guest, qroot.path, f"listen{i}", memory_mib=128,
                                            extra_devices=gfx))
        dom.start()
        qdom = node.by_name[f"listen{i}"]
        assert check(qdom.mon.execute(query), qdom), (gfx, dom.xml())
        dom.destroy()


def test_vnc_password_from_qemu_conf(guest: Any) -> None:
    """qemu.conf's vnc_password protects a VNC display whose definition has none."""
    root = QemuRoot()
    try:
        (root.path / "etc").mkdir()
        (root.path / "etc" / "qemu.conf").write_text('vnc_password = "fr0mconf"\n')
        conn = root.open()
        port = free_port()
        dom = conn.define_domain(domain_xml(
            guest, root.path, "vncconf", memory_mib=128,
            extra_devices=f"<graphics type='vnc' port='{port}' autoport='no'/>"))
        dom.start()
        assert "passwd" not in dom.xml(int(DomainXMLFlags.SECURE))
        assert rfb_login(port, "fr0mconf") == ([SEC_VNC_AUTH], 0)
        assert rfb_login(port, "")[1] == 1
        dom.destroy()
    finally:
        left = root.cleanup()
    assert not left
