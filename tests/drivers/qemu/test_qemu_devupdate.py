"""virDomainUpdateDeviceFlags on the QEMU driver with a real TCG guest (embedded connection).

CD-ROM media change, eject and insert as QEMU sees them (``query-block``) with their
TRAY_CHANGE events; interface link state live (QEMU's ``info network``) and in the config,
and the guest starting again with ``<link state='down'/>``; libvirt's refusals. Config-only
updates of a defined domain need no guest.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import QemuRoot, console_log, domain_xml, wait_marker, wait_until
from test_qemu_agent import AGENT, exec_out, wait_agent
from test_qemu_daemon import VIRSH, Daemons

import virtkit
from virtkit.constants import (
    DomainDeviceModifyFlags,
    DomainEventID,
    DomainEventTrayChangeReason,
    DomainXMLFlags,
)
from virtkit.errors import ErrorCode

LIVE = int(DomainDeviceModifyFlags.LIVE)
CONFIG = int(DomainDeviceModifyFlags.CONFIG)
FORCE = int(DomainDeviceModifyFlags.FORCE)
MAC = "52:54:00:12:34:56"


def _media(root: Path) -> tuple[Path, Path]:
    a, b = root / "a.iso", root / "b.iso"
    for p, size in ((a, 1 << 20), (b, 2 << 20)):
        with open(p, "wb") as f:
            f.truncate(size)
    return a, b


def _cdrom(source: Path | None, extra: str = "") -> str:
    src = f"<source file='{source}'/>" if source is not None else ""
    return (f"<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>{src}"
            f"<target dev='sda' bus='sata'{extra}/><readonly/></disk>")


def _iface(link: str | None = None, extra: str = "") -> str:
    state = f"<link state='{link}'/>" if link else ""
    return (f"<interface type='user'><mac address='{MAC}'/><model type='virtio'/>{state}"
            f"{extra}</interface>")


def _xml(guest: Any, root: Path, name: str, cdrom: Path | None, link: str | None = None) -> str:
    xml = domain_xml(guest, root, name, memory_mib=128, extra_devices=_cdrom(cdrom) + AGENT)
    return xml.replace("<interface type='user'><model type='virtio'/></interface>", _iface(link))


def _mon(conn: Any, name: str) -> Any:
    return conn.tables.hypervisor._node.by_name[name].mon


def _inserted(conn: Any, name: str) -> str | None:
    """The file QEMU has in the CD-ROM drive (``query-block``), None when empty."""
    for dev in _mon(conn, name).execute("query-block"):
        if dev.get("qdev") == "sata0-0-0":
            inserted = dev.get("inserted")
            return inserted["file"] if inserted else None
    raise AssertionError("no sata0-0-0 in query-block")


def _carrier(dom: Any, up: bool) -> None:
    """Wait until the guest's NIC has (or has lost) its carrier (a hang guard only)."""
    want = "1" if up else "0"
    wait_until(lambda: exec_out(dom, "/bin/cat", "/sys/class/net/eth0/carrier").strip() == want,
               60, f"carrier {want} in the guest")


def _tray_events(events: Any, n: int) -> list[tuple[str, int]]:
    got = []
    for _ in range(n):
        ev = events.get(timeout=30)
        assert ev is not None, f"only {got} of {n} tray events"
        got.append((ev.payload[0], int(ev.payload[1])))
    return got


@pytest.mark.slow
def test_media_change_and_link_state_live(conn: Any, qroot: QemuRoot, guest: Any) -> None:
    a, b = _media(qroot.path)
    dom = conn.define_domain(_xml(guest, qroot.path, "cd1", a))
    dom.start()
    wait_marker(console_log(qroot.path, "cd1"), guest.READY_MARKER, timeout=180)
    assert _inserted(conn, "cd1") == str(a)
    opened, closed = int(DomainEventTrayChangeReason.OPEN), int(DomainEventTrayChangeReason.CLOSE)

    with conn.domain_events(int(DomainEventID.TRAY_CHANGE)) as events:
        dom.update_device(_cdrom(b), LIVE)  # change: open, swap, close
        assert _inserted(conn, "cd1") == str(b)
        assert _tray_events(events, 2) == [("sata0-0-0", opened), ("sata0-0-0", closed)]
        assert f"<source file='{b}'" in dom.xml()
        assert f"<source file='{a}'" in dom.xml(int(DomainXMLFlags.INACTIVE))

        dom.update_device(_cdrom(None), LIVE)  # eject
        assert _inserted(conn, "cd1") is None
        assert _tray_events(events, 2) == [("sata0-0-0", opened), ("sata0-0-0", closed)]
        assert "<source" not in dom.xml().split("<disk", 1)[1].split("</disk>")[0]

        dom.update_device(_cdrom(b), LIVE)  # insert
        assert _inserted(conn, "cd1") == str(b)
        assert _tray_events(events, 2) == [("sata0-0-0", opened), ("sata0-0-0", closed)]

        dom.update_device(_cdrom(a), LIVE | FORCE)  # the tray is forced open
        assert _inserted(conn, "cd1") == str(a)
        assert _tray_events(events, 2) == [("sata0-0-0", opened), ("sata0-0-0", closed)]
        dom.update_device(_cdrom(a), LIVE)  # the same medium: nothing to do
        assert events.get(timeout=1) is None
        # an eject as virt-manager sends it: the disk with an emptied <source> that still
        # names the old medium's index (libvirt does not read it: no index is left)
        dom.update_device(_cdrom(None).replace("<target", "<source index='7'/><target"), LIVE)
        assert _inserted(conn, "cd1") is None
        assert _tray_events(events, 2) == [("sata0-0-0", opened), ("sata0-0-0", closed)]
        assert "<source" not in dom.xml().split("<disk", 1)[1].split("</disk>")[0]

    # what libvirt refuses
    with pytest.raises(virtkit.VirtError) as exc:
        dom.update_device(_cdrom(b, " tray='open'"), LIVE)
    assert exc.value.code == ErrorCode.OPERATION_UNSUPPORTED
    assert str(exc.value) == "Operation not supported: cannot modify field 'tray' of the disk"
    with pytest.raises(virtkit.VirtError) as exc:
        dom.update_device(_cdrom(b).replace("dev='sda'", "dev='sdz'"), LIVE)
    assert str(exc.value) == "internal error: disk 'sdz' not found"
    with pytest.raises(virtkit.VirtError) as exc:
        dom.update_device(_cdrom(b).replace("bus='sata'", "bus='scsi'"), LIVE)
    assert str(exc.value) == "Operation not supported: cannot modify field 'bus' of the disk"

    # link state, live only: QEMU's link goes down and up; the config keeps no <link>
    wait_agent(dom)
    _carrier(dom, True)
    dom.update_device(_iface("down"), LIVE)
    _carrier(dom, False)
    assert "<link state='down'/>" in dom.xml()
    assert "<link " not in dom.xml(int(DomainXMLFlags.INACTIVE))
    dom.update_device(_iface("up"), LIVE)
    _carrier(dom, True)
    assert "<link state='up'/>" in dom.xml()

    with pytest.raises(virtkit.VirtError) as exc:
        dom.update_device(_iface(None, "<mtu size='1400'/>"), LIVE)
    assert str(exc.value) == "Operation not supported: cannot modify MTU"
    with pytest.raises(virtkit.VirtError) as exc:
        dom.update_device(_iface().replace("virtio", "e1000"), LIVE)
    assert str(exc.value) == ("Operation not supported: cannot modify network device model "
                              "from virtio to e1000")
    with pytest.raises(virtkit.VirtError) as exc:
        dom.update_device(_iface().replace(MAC, "52:54:00:00:00:01"), LIVE)
    assert exc.value.code == ErrorCode.DEVICE_MISSING
    assert str(exc.value) == ("device not found: no device found at address '(<null>)' "
                              "matching MAC address '52:54:00:00:00:01' and alias '(<null>)'")
    with pytest.raises(virtkit.VirtError) as exc:
        dom.update_device("<video><model type='vga'/></video>", LIVE)
    assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert str(exc.value) == ("unsupported configuration: live update of device 'video' is not "
                              "supported")

    # live and config at once: down now and at the next start (the VM that could
    # not start again)
    dom.update_device(_iface("down"), LIVE | CONFIG)
    assert "<link state='down'/>" in dom.xml(int(DomainXMLFlags.INACTIVE))
    dom.destroy()
    dom.start()
    wait_marker(console_log(qroot.path, "cd1"), guest.READY_MARKER, timeout=180)  # a new log
    wait_agent(dom)
    _carrier(dom, False)
    assert _inserted(conn, "cd1") == str(a)
    dom.update_device(_iface("up"), LIVE | CONFIG)
    _carrier(dom, True)
    assert "<link state='up'/>" in dom.xml(int(DomainXMLFlags.INACTIVE))
    dom.destroy()


def test_config_updates_of_a_defined_domain(conn: Any, qroot: QemuRoot, guest: Any) -> None:
    a, b = _media(qroot.path)
    dom = conn.define_domain(_xml(guest, qroot.path, "cfg1", a))
    dom.update_device(_cdrom(b))  # CURRENT on an inactive domain: the config
    assert f"<source file='{b}'/>" in dom.xml()
    dom.update_device(_iface("down"), CONFIG)
    assert "<link state='down'/>" in dom.xml()
    # as start would refuse it (so no config is saved that cannot start)
    with pytest.raises(virtkit.VirtError) as exc:
        dom.update_device(_iface(None, "<bandwidth><inbound average='100'/></bandwidth>"),
                          CONFIG)
    assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert "<link state='down'/>" in dom.xml()
    with pytest.raises(virtkit.VirtError) as exc:
        dom.update_device(_cdrom(b).replace("sda", "sdc"), CONFIG)
    assert exc.value.code == ErrorCode.INVALID_ARG
    assert str(exc.value) == "invalid argument: target sdc doesn't exist."
    with pytest.raises(virtkit.VirtError) as exc:
        dom.update_device("<video><model type='vga'/></video>", CONFIG)
    assert exc.value.code == ErrorCode.OPERATION_UNSUPPORTED
    assert str(exc.value) == ("Operation not supported: persistent update of device 'video' "
                              "is not supported")
    with pytest.raises(virtkit.VirtError) as exc:
        dom.update_device(_cdrom(b), LIVE)
    assert exc.value.code == ErrorCode.OPERATION_INVALID
    assert str(exc.value) == "Requested operation is not valid: domain is not running"
    with pytest.raises(virtkit.VirtError) as exc:
        dom.update_device(_cdrom(b), 1 << 8)
    assert exc.value.code == ErrorCode.INVALID_ARG


# --------------------------------------------------------------------------- stock clients

# A libvirt-python client (Debian's /usr/bin/python3) printing every TRAY_CHANGE and
# METADATA_CHANGE event it gets as a JSON line.
LISTENER = r"""
import json, sys, libvirt
libvirt.virEventRegisterDefaultImpl()
conn = libvirt.open(sys.argv[1])
def tray(conn, dom, alias, reason, opaque):
    print(json.dumps(["tray", dom.name(), alias, reason]), flush=True)
def meta(conn, dom, mtype, nsuri, opaque):
    print(json.dumps(["metadata", dom.name(), mtype, nsuri]), flush=True)
conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_TRAY_CHANGE, tray, None)
conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, meta, None)
print(json.dumps(["ready"]), flush=True)
while True:
    libvirt.virEventRunDefaultImpl()
"""
NS = "http://example.org/virtkit-test/1"
MEMSTAT_FIELDS = {"actual", "swap_in", "swap_out", "major_fault", "minor_fault", "unused",
                  "available", "usable", "last_update", "disk_caches", "hugetlb_pgalloc",
                  "hugetlb_pgfail", "rss"}


class Listener:
    """The libvirt-python event client, its lines read on a thread."""

    def __init__(self, uri: str) -> None:
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", LISTENER, uri],
                                     stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[list[Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next() == ["ready"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def next(self) -> list[Any]:
        try:
            return self.lines.get(timeout=60)
        except queue.Empty:
            raise AssertionError("no event from the libvirt-python client") from None

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def daemons(qroot: QemuRoot) -> Iterator[Daemons]:
    d = Daemons(qroot)
    try:
        yield d
    finally:
        d.cleanup()


def _memstat(daemons: Daemons, name: str) -> dict[str, int]:
    out = daemons.virsh("dommemstat", name)
    return {k: int(v) for k, v in (line.split() for line in out.splitlines() if line.strip())}


@pytest.mark.slow
def test_stock_virsh_and_libvirt_python(daemons: Daemons, qroot: QemuRoot, guest: Any) -> None:
    """virsh change-media, domif-setlink, desc, metadata and dommemstat against virtkitd;
    the events reach a libvirt-python client; metadata survives a daemon restart."""
    a, b = _media(qroot.path)
    daemons.start()
    conn = daemons.open()
    conn.define_domain(_xml(guest, qroot.path, "cd2", a))
    assert "Domain 'cd2' started" in daemons.virsh("start", "cd2")
    wait_marker(console_log(qroot.path, "cd2"), guest.READY_MARKER, timeout=180)
    listener = Listener(daemons.uri)
    try:
        # media: change, eject, insert (each opens and closes the tray)
        assert "Successfully updated media." in daemons.virsh(
            "change-media", "cd2", "sda", str(b), "--update")
        assert str(b) in daemons.virsh("domblklist", "cd2")
        assert "Successfully ejected media." in daemons.virsh("change-media", "cd2", "sda",
                                                              "--eject")
        assert str(b) not in daemons.virsh("domblklist", "cd2")
        assert "Successfully inserted media." in daemons.virsh(
            "change-media", "cd2", "sda", str(a), "--insert")
        assert str(a) in daemons.virsh("domblklist", "cd2")
        for _ in range(3):
            assert listener.next() == ["tray", "cd2", "sata0-0-0", 0]
            assert listener.next() == ["tray", "cd2", "sata0-0-0", 1]

        # link state live, then in the config; the domain starts again with it down
        assert "Device updated successfully" in daemons.virsh("domif-setlink", "cd2", MAC,
                                                              "down")
        assert daemons.virsh("domif-getlink", "cd2", MAC).split() == [MAC, "down"]
        assert daemons.virsh("domif-getlink", "cd2", MAC, "--config").split() == [MAC, "up"]
        daemons.virsh("domif-setlink", "cd2", MAC, "down", "--config")
        assert daemons.virsh("domif-getlink", "cd2", MAC, "--config").split() == [MAC, "down"]
        daemons.virsh("destroy", "cd2")
        assert "Domain 'cd2' started" in daemons.virsh("start", "cd2")
        assert daemons.virsh("domif-getlink", "cd2", MAC).split() == [MAC, "down"]
        daemons.virsh("domif-setlink", "cd2", MAC, "up")
        assert daemons.virsh("domif-getlink", "cd2", MAC).split() == [MAC, "up"]

        # title and description, live; a namespaced element, live and config
        assert "Domain title updated successfully" in daemons.virsh(
            "desc", "cd2", "--title", "--live", "Database server")
        assert "Domain description updated successfully" in daemons.virsh(
            "desc", "cd2", "--live", "The main one")
        daemons.virsh("metadata", "cd2", "--uri", NS, "--key", "vk", "--live", "--config",
                      "--set", "<app><role>db</role></app>")
        assert daemons.virsh("desc", "cd2", "--title").strip() == "Database server"
        assert daemons.virsh("desc", "cd2").strip() == "The main one"
        assert "<role>db</role>" in daemons.virsh("metadata", "cd2", "--uri", NS)
        assert "<role>db</role>" in daemons.virsh("metadata", "cd2", "--uri", NS, "--config")
        assert listener.next() == ["metadata", "cd2", 1, None]
        assert listener.next() == ["metadata", "cd2", 0, None]
        assert listener.next() == ["metadata", "cd2", 2, NS]
        out = subprocess.run([VIRSH, "-c", daemons.uri, "metadata", "cd2", "--uri",
                              "http://example.org/none"], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 1
        assert ("metadata not found: Requested metadata element is not present"
                in out.stderr)

        # balloon statistics every second
        daemons.virsh("dommemstat", "cd2", "--period", "1", "--live")
        wait_until(lambda: set(_memstat(daemons, "cd2")) >= MEMSTAT_FIELDS, 120,
                   "the guest's balloon statistics")
        stats = _memstat(daemons, "cd2")
        assert stats["actual"] == 128 * 1024
        assert 0 < stats["usable"] <= stats["available"] <= 128 * 1024
        assert stats["last_update"] > 0 and stats["rss"] > 0
        record = conn.lookup_domain("cd2").xml()
        assert "<stats period='1'/>" in record
    finally:
        listener.close()

    # a new daemon reads them back from the status (live) and the config
    daemons.current.stop()  # type: ignore[union-attr]
    daemons.start()
    assert daemons.virsh("desc", "cd2", "--title").strip() == "Database server"
    assert "<role>db</role>" in daemons.virsh("metadata", "cd2", "--uri", NS)
    assert "<role>db</role>" in daemons.virsh("metadata", "cd2", "--uri", NS, "--config")
    assert daemons.virsh("desc", "cd2", "--title", "--config").strip() == "No title for domain: cd2"
    # virtkit's own CLI reads and changes the same
    for args in (["desc", "cd2", "--title"], ["metadata", "cd2", NS],
                 ["domif-getlink", "cd2", MAC], ["change-media", "cd2", "sda", "--eject"],
                 ["domblklist", "cd2"]):
        ours = subprocess.run([sys.executable, "-m", "virtkit.cli.main", "-c", daemons.uri,
                               *args], capture_output=True, text=True, timeout=60)
        assert ours.returncode == 0, ours.stderr
        if args[0] == "change-media":
            assert ours.stdout == "Successfully ejected media.\n"
            continue
        assert ours.stdout == daemons.virsh(*args)
    assert str(a) not in daemons.virsh("domblklist", "cd2")
    daemons.virsh("destroy", "cd2")


SPICE = ("<graphics type='spice' autoport='yes' passwd='{pw}'{extra}>"
         "<listen type='address' address='127.0.0.1'/></graphics>")


def test_graphics_password_live(conn: Any, qroot: QemuRoot, guest: Any) -> None:
    """A SPICE password and its expiry change live (set_password, expire_password); the
    listen, ports and keymap cannot change (libvirt's qemuDomainChangeGraphics)."""
    xml = domain_xml(guest, qroot.path, "gfx1", memory_mib=128,
                     extra_devices=SPICE.format(pw="old", extra=""))
    dom = conn.define_domain(xml)
    dom.start()
    secure = int(DomainXMLFlags.SECURE)
    dom.update_device(SPICE.format(pw="new", extra=" passwdValidTo='2030-01-01T00:00:00'"),
                      LIVE)
    assert "passwd='new' passwdValidTo='2030-01-01T00:00:00'" in dom.xml(secure)
    assert "passwd='old'" in dom.xml(secure | int(DomainXMLFlags.INACTIVE))
    dom.update_device(SPICE.format(pw="newer", extra=" connected='keep'"), LIVE | CONFIG)
    assert "passwd='newer' connected='keep'" in dom.xml(secure)
    assert "passwd='newer' connected='keep'" in dom.xml(secure | int(DomainXMLFlags.INACTIVE))
    for bad, message in (
            ("<graphics type='spice' autoport='yes' passwd='x'/>",
             "cannot change listen address setting on 'spice' graphics"),
            (SPICE.format(pw="x", extra=" keymap='de'"),
             "cannot change keymap setting on spice graphics"),
            ("<graphics type='spice' port='5999' autoport='no'>"
             "<listen type='address' address='127.0.0.1'/></graphics>",
             "cannot change port settings on spice graphics")):
        with pytest.raises(virtkit.VirtError) as exc:
            dom.update_device(bad, LIVE)
        assert exc.value.code == ErrorCode.OPERATION_UNSUPPORTED
        assert str(exc.value) == f"Operation not supported: {message}"
    with pytest.raises(virtkit.VirtError) as exc:
        dom.update_device("<graphics type='vnc' autoport='yes'/>", LIVE)
    assert exc.value.code == ErrorCode.DEVICE_MISSING
    assert str(exc.value) == ("device not found: cannot find existing graphics device to "
                              "modify of type 'vnc'")
    assert "passwd='newer'" in dom.xml(secure)
    dom.destroy()
