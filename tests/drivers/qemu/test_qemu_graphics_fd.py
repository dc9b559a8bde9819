"""Consoles handed over as file descriptors: virDomainOpenGraphicsFD / OpenGraphics, and
virDomainOpenChannel, FDAssociate, CreateXMLWithFiles on the QEMU driver.

virt-manager's local VNC console is ``dom.openGraphicsFD(0)`` over the unix socket: here
Debian's libvirt-python (``/usr/bin/python3``, a subprocess) makes that call against virtkitd
with a running TCG guest and reads the VNC server's RFB greeting from the descriptor it gets,
and the same script's answers are compared with Debian's libvirtd 9.0 on the same guest.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import QemuRoot, console_log, domain_xml, wait_marker, wait_until

import virtkit
from virtkit.constants import DomainChannelFlags, DomainOpenGraphicsFlags
from virtkit.drivers.qemu import agent
from virtkit.drivers.qemu.defs import parse_def
from virtkit.errors import ErrorCode, VirtError
from virtkit.testing.peers import Daemon

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
BOOT_TIMEOUT = 90.0  # shared CPUs: a bound against hangs only
RFB_GREETING = b"RFB 003.008\n"
OTHER_CHANNEL = "org.virtkit.test.0"  # no reader in the guest


def devices(agent_path: Path) -> str:
    """VNC without a listener (descriptors only) and the guest agent's channel."""
    return ("<graphics type='vnc'><listen type='none'/></graphics>"
            "<video><model type='vga'/></video>"
            f"<channel type='unix'><source mode='bind' path='{agent_path}'/>"
            "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
            f"<channel type='unix'><source mode='bind' path='{agent_path}.other'/>"
            f"<target type='virtio' name='{OTHER_CHANNEL}'/></channel>")


# What virt-manager does for its local console, then the other descriptor calls; one JSON
# row per step (the domain's UUID is left out of messages so two daemons compare).
SCRIPT = r"""
import json, os, socket, sys
import libvirt

conn = libvirt.open(sys.argv[1])
dom = conn.lookupByName(sys.argv[2])
uuid = dom.UUIDString()
rows = []

def greeting(fd):
    s = socket.socket(fileno=fd)
    s.settimeout(30)
    data = b""
    while len(data) < 12:
        chunk = s.recv(12 - len(data))
        if not chunk:
            break
        data += chunk
    s.close()
    return data.decode()

def step(name, call):
    try:
        value = call()
        rows.append([name, "ok", value if isinstance(value, (int, str)) else None])
    except libvirt.libvirtError as e:
        rows.append([name, e.get_error_code(), e.get_error_domain(),
                     e.get_error_message().replace(uuid, "UUID")])

rows.append(["openGraphicsFD", greeting(dom.openGraphicsFD(0, 0))])
rows.append(["openGraphicsFD skipauth",
             greeting(dom.openGraphicsFD(0, libvirt.VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH))])
ours, theirs = socket.socketpair()
dom.openGraphics(0, theirs.fileno(), 0)
theirs.close()
rows.append(["openGraphics", greeting(ours.detach())])
step("openGraphicsFD index 1", lambda: dom.openGraphicsFD(1, 0))
step("openGraphicsFD flags 0x2", lambda: dom.openGraphicsFD(0, 2))
r, w = os.pipe()
step("FDAssociate", lambda: dom.FDAssociate("group", [r, w], 0))
step("FDAssociate flags 0x8", lambda: dom.FDAssociate("group", [r], 8))
step("createXMLWithFiles", lambda: conn.createXMLWithFiles("<domain/>", [r], 0))
step("openChannel missing", lambda: dom.openChannel("nosuch", conn.newStream(0), 0))
st = conn.newStream(0)
step("openChannel", lambda: dom.openChannel(sys.argv[3], st, 0))
if sys.argv[3] == "org.qemu.guest_agent.0":
    st.send(b'{"execute": "guest-ping"}\n')
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = st.recv(1024)
        if not chunk:
            break
        reply += chunk
    rows.append(["openChannel guest-ping", json.loads(reply)])
step("openChannel again", lambda: dom.openChannel(sys.argv[3], conn.newStream(0), 0))
st.abort()
rows.append(["alive", dom.isActive()])
dom.destroy()
step("openGraphicsFD inactive", lambda: dom.openGraphicsFD(0, 0))
print(json.dumps(rows))
"""

EXPECTED = [
    ["openGraphicsFD", RFB_GREETING.decode()],
    ["openGraphicsFD skipauth", RFB_GREETING.decode()],
    ["openGraphics", RFB_GREETING.decode()],
    ["openGraphicsFD index 1", ErrorCode.INTERNAL_ERROR, 10,
     "internal error: No graphics backend with index 1"],
    ["openGraphicsFD flags 0x2", ErrorCode.INVALID_ARG, 10,
     "unsupported flags (0x2) in function qemuDomainOpenGraphicsFD"],
    ["FDAssociate", "ok", 0],
    ["FDAssociate flags 0x8", ErrorCode.INVALID_ARG, 10,
     "unsupported flags (0x8) in function qemuDomainFDAssociate"],
    ["createXMLWithFiles", ErrorCode.NO_SUPPORT, 20,
     "this function is not supported by the connection driver: virDomainCreateXMLWithFiles"],
    ["openChannel missing", ErrorCode.INTERNAL_ERROR, 10,
     "internal error: cannot find channel nosuch"],
    ["openChannel", "ok", 0],
    ["openChannel again", ErrorCode.OPERATION_FAILED, 10,
     "operation failed: Active channel stream exists for this domain"],
    ["alive", 1],
    ["openGraphicsFD inactive", ErrorCode.NO_DOMAIN, 10,
     "Domain not found: no domain with matching uuid 'UUID' (gfx)"],
]


def run_script(uri: str, name: str, channel: str) -> list[Any]:
    out = subprocess.run(["/usr/bin/python3", "-c", SCRIPT, uri, name, channel],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    rows: list[Any] = json.loads(out.stdout)
    return rows


def wait_agent(path: str) -> None:
    """Until qemu-ga answers (it starts in the background after the guest's ready marker)."""
    def answers() -> bool:
        try:
            with agent.GuestAgent(path) as ga:
                return bool(ga.execute("guest-ping") == {})
        except VirtError:
            return False
    wait_until(answers, BOOT_TIMEOUT, "qemu-ga to answer guest-ping")


def boot(conn: Any, guest: Any, root: Path, name: str = "gfx") -> Any:
    """A running TCG guest with :func:`devices`, booted to its ready marker with qemu-ga
    answering."""
    dom = conn.create_domain(domain_xml(guest, root, name, memory_mib=128,
                                       extra_devices=devices(root / "ga.sock")))
    wait_marker(console_log(root, name), guest.READY_MARKER, timeout=BOOT_TIMEOUT)
    path = agent.agent_socket(parse_def(dom.xml()))
    assert path == str(root / "ga.sock")
    wait_agent(path)
    return dom


def greeting(fd: int) -> bytes:
    with socket.socket(fileno=fd) as s:
        s.settimeout(30)
        data = b""
        while len(data) < len(RFB_GREETING):
            chunk = s.recv(len(RFB_GREETING) - len(data))
            if not chunk:
                break
            data += chunk
    return data


def fd_table(pid: int) -> dict[int, str]:
    """A process's open descriptors and what each refers to (``socket:[inode]`` ...);
    one closed while this reads is left out."""
    table: dict[int, str] = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            table[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
    return table


def _being_written(target: str) -> bool:
    """A status file the daemon is writing on its own (persist.write_atomic: the temp file,
    then the directory it syncs), e.g. after QEMU reported that qemu-ga connected."""
    return target.endswith(".tmp") or os.path.isdir(target)


def quiet_table(pid: int) -> dict[int, str]:
    """``pid``'s descriptor table at a moment no status file is being written: the baseline
    the daemon's descriptors must come back to."""
    table: dict[int, str] = {}

    def quiet() -> bool:
        table.clear()
        table.update(fd_table(pid))
        return not any(_being_written(t) for t in table.values())

    wait_until(quiet, 10, "no status file being written")
    return table


def wait_table(pid: int, expected: dict[int, str], what: str) -> None:
    """Until ``pid``'s descriptor table is exactly ``expected``: the daemon closes its copy
    of a reply's descriptor, the descriptors a call brought and the socket of a client that
    hung up on its own threads, after the client has seen the reply or hung up.  A leaked
    descriptor never leaves, so this still fails (after the hang guard)."""
    try:
        wait_until(lambda: fd_table(pid) == expected, 10, what)
    except AssertionError:
        now = fd_table(pid)
        extra = {fd: t for fd, t in now.items() if expected.get(fd) != t}
        missing = {fd: t for fd, t in expected.items() if now.get(fd) != t}
        raise AssertionError(f"{what}: extra {extra}, missing {missing}") from None


def test_libvirt_python_console_calls(daemon: Daemon, qroot: QemuRoot, guest: Any) -> None:
    """libvirt-python's openGraphicsFD reads the guest's VNC greeting from the descriptor,
    and every descriptor call answers as libvirt's QEMU driver does."""
    uri = daemon.uri("unix", "/system", "qemu")
    with virtkit.open(uri) as conn:
        boot(conn, guest, qroot.path)
        rows = run_script(uri, "gfx", "org.qemu.guest_agent.0")
    # the agent's channel carries a guest-ping to qemu-ga and its answer
    ping = EXPECTED.index(["openChannel", "ok", 0]) + 1
    assert rows == [*EXPECTED[:ping], ["openChannel guest-ping", {"return": {}}],
                    *EXPECTED[ping:]]


def test_same_answers_as_libvirtd(qroot: QemuRoot, guest: Any) -> None:
    """The script above against Debian's libvirtd 9.0 (QEMU driver) on the same kind of
    guest: the answers virtkitd must give."""
    sys.path.insert(0, str(REPO / "bench"))
    import qemu_peers  # type: ignore[import-not-found]

    peer = qemu_peers.start_libvirtd_qemu(qroot.path / "libvirtd")
    try:
        script = qroot.path / "boot.py"
        script.write_text(
            "import libvirt, sys\n"
            "conn = libvirt.open(sys.argv[1])\n"
            "conn.createXML(open(sys.argv[2]).read(), 0)\n")
        xml = qroot.path / "gfx.xml"
        xml.write_text(domain_xml(guest, qroot.path, "gfx", memory_mib=128,
                                  extra_devices=devices(qroot.path / "ga.sock")))
        subprocess.run(["/usr/bin/python3", str(script), peer.uri, str(xml)], check=True,
                       timeout=120)
        wait_marker(console_log(qroot.path, "gfx"), guest.READY_MARKER, timeout=BOOT_TIMEOUT)
        wait_agent(str(qroot.path / "ga.sock"))
        # (libvirtd's own agent holds the agent's channel: another one is opened here)
        assert run_script(peer.uri, "gfx", OTHER_CHANNEL) == EXPECTED
    finally:
        peer.stop()


def test_virtkit_client_and_descriptor_bookkeeping(daemon: Daemon, qroot: QemuRoot,
                                                   guest: Any) -> None:
    """virtkit's own remote client gets the display socket too; the daemon holds associated
    descriptors until the connection closes and leaks none of the others."""
    uri = daemon.uri("unix", "/system", "qemu")
    pid = daemon.proc.pid
    with virtkit.open(uri) as conn:
        dom = boot(conn, guest, qroot.path)
        baseline = quiet_table(pid)  # no call in flight
        assert greeting(dom.open_graphics_fd(0)) == RFB_GREETING
        for _ in range(3):
            assert greeting(dom.open_graphics_fd(
                0, DomainOpenGraphicsFlags.SKIPAUTH)) == RFB_GREETING
            ours, theirs = socket.socketpair()
            with ours, theirs:
                dom.open_graphics(0, theirs.fileno())
                theirs.close()
                assert greeting(ours.detach()) == RFB_GREETING
        # QEMU's end of each pair closes with the VNC client; the daemon keeps none
        wait_table(pid, baseline, "daemon descriptors back to the baseline")
        with virtkit.open(uri) as other:
            odom = other.lookup_domain("gfx")
            connected = quiet_table(pid)  # with the second connection's socket
            assert len(connected) == len(baseline) + 1
            assert baseline.items() <= connected.items()
            r, w = os.pipe()
            pipe = f"pipe:[{os.fstat(r).st_ino}]"
            odom.fd_associate("group", [r, w])
            os.close(r)
            os.close(w)

            def copies_kept() -> bool:
                """The daemon holds exactly its two copies of the pipe and nothing else new
                (the call's own copies are gone)."""
                table = fd_table(pid)
                new = [t for fd, t in table.items() if connected.get(fd) != t]
                return connected.items() <= table.items() and new == [pipe, pipe]

            wait_until(copies_kept, 10, "the daemon's two copies of the associated pipe")
            assert odom.is_active()  # a later call: the copies are the group's, not the call's
            wait_until(copies_kept, 10, "the associated pipe still held after another call")
        wait_table(pid, baseline, "associated descriptors dropped with their connection")
        # over TCP the call is refused and the connection goes on
        with virtkit.open(daemon.uri("tcp", "/system", "qemu")) as tcp:
            tdom = tcp.lookup_domain("gfx")
            with pytest.raises(VirtError, match="Sending file descriptors is not supported"):
                tdom.open_graphics_fd(0)
            assert tdom.is_active()
        wait_table(pid, baseline, "the TCP client's socket closed")


def test_embedded_driver_and_channel_exclusivity(qroot: QemuRoot, conn: Any,
                                                 guest: Any) -> None:
    """The driver itself (no RPC): a display socket, and one stream per channel unless
    forced, as libvirt's virChrdevOpen."""
    dom = boot(conn, guest, qroot.path)
    assert greeting(dom.open_graphics_fd(0)) == RFB_GREETING
    first = dom.open_channel("org.qemu.guest_agent.0")
    with pytest.raises(VirtError, match="Active channel stream exists") as ei:
        dom.open_channel("org.qemu.guest_agent.0")
    assert ei.value.code == ErrorCode.OPERATION_FAILED
    second = dom.open_channel("org.qemu.guest_agent.0", DomainChannelFlags.FORCE)
    assert first.recv() == b""  # cut off by the forced open
    second.send(b'{"execute": "guest-ping"}\n')
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = second.recv()
        assert chunk, "channel closed before the agent answered"
        reply += chunk
    assert json.loads(reply) == {"return": {}}
    second.finish()
    with pytest.raises(VirtError, match=r"^internal error: cannot find channel serial0$"):
        dom.open_channel("serial0")  # a serial port is no channel


def test_spice_display_socket(qroot: QemuRoot, conn: Any) -> None:
    """A SPICE display answers its link message on the descriptor (add_client 'spice');
    no guest OS is needed for the server's side of the handshake."""
    dom = conn.create_domain(f"""<domain type='qemu'><name>spice</name><uuid>{uuid.uuid4()}</uuid>
  <memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices><graphics type='spice'><listen type='none'/></graphics>
    <video><model type='qxl'/></video></devices>
</domain>""")
    # SpiceLinkHeader (magic, major, minor, size) + SpiceLinkMess for the main channel
    mess = struct.pack("<IBBIII", 0, 1, 0, 0, 0, 18)
    with socket.socket(fileno=dom.open_graphics_fd(0, DomainOpenGraphicsFlags.SKIPAUTH)) as s:
        s.settimeout(30)
        s.sendall(b"REDQ" + struct.pack("<III", 2, 2, len(mess)) + mess)
        reply = b""
        while len(reply) < 12:
            chunk = s.recv(12 - len(reply))
            assert chunk, "SPICE server closed the socket"
            reply += chunk
    assert reply[:4] == b"REDQ"
    assert struct.unpack("<II", reply[4:12]) == (2, 2)  # SPICE_VERSION_MAJOR / MINOR
    with pytest.raises(VirtError, match="No graphics backend with index 1"):
        dom.open_graphics_fd(1)
