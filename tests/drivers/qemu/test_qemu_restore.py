"""End to end: save/restore, managed save and snapshot revert of guests with channels.

Every kind of channel virt-install and users write (a unix channel with the auto-generated
path of the guest agent, a unix channel with an explicit path, a pty channel) and a guest on an
external disk-only snapshot overlay are restored twice in a row: the previous run's generated
socket path (in a run directory that is gone) and the ``<backingStore>`` chain virtkit
wrote itself never stop the next QEMU, as with libvirtd.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from qemu_e2e import QemuRoot, domain_xml

from virtkit.constants import DomainRunningReason, DomainSnapshotCreateFlags, DomainState

pytestmark = pytest.mark.slow

CHANNELS = {
    "unix-auto": "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/>"
                 "</channel>",
    "unix-path": "<channel type='unix'><source mode='bind' path='{root}/ga.sock'/>"
                 "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>",
    "pty": "<channel type='pty'><target type='virtio' name='org.example.pty.0'/></channel>",
}


def define(conn: Any, guest: Any, root: Path, channel: str) -> Any:
    disk = guest.copy_disk(root / "vm1.qcow2")
    extra = CHANNELS[channel].format(root=root)
    return conn.define_domain(domain_xml(guest, root, "vm1", disk=disk, extra_devices=extra))


def channel_source(dom: Any) -> etree._Element:
    found = etree.fromstring(dom.xml().encode()).find("devices/channel/source")
    assert found is not None
    return found


def assert_channel_live(dom: Any, kind: str) -> None:
    """The running guest's channel is there: a listening socket or an allocated pty."""
    src = channel_source(dom)
    path = src.get("path")
    assert path, etree.tostring(src)
    if kind == "pty":
        assert path.startswith("/dev/pts/")
    else:
        assert stat.S_ISSOCK(os.stat(path).st_mode), path


def assert_running(dom: Any, reason: int) -> None:
    assert dom.state_reason() == (DomainState.RUNNING, reason)


@pytest.mark.parametrize("kind", sorted(CHANNELS))
def test_channels_survive_save_managed_save_and_revert(qroot: QemuRoot, conn: Any, guest: Any,
                                                       kind: str) -> None:
    dom = define(conn, guest, qroot.path, kind)
    dom.start()
    assert_channel_live(dom, kind)
    image = str(qroot.path / "vm1.save")
    for _ in range(2):
        dom.save(image)
        assert dom.state_reason()[0] == DomainState.SHUTOFF
        conn.restore_domain(image)
        assert_running(dom, DomainRunningReason.RESTORED)
        assert_channel_live(dom, kind)
    for _ in range(2):
        dom.managed_save()
        assert dom.has_managed_save()
        dom.start()
        assert not dom.has_managed_save()
        assert_running(dom, DomainRunningReason.RESTORED)
        assert_channel_live(dom, kind)
    snap = dom.create_snapshot("<domainsnapshot><name>live</name></domainsnapshot>")
    for _ in range(2):
        dom.revert_to_snapshot(snap)
        assert_running(dom, DomainRunningReason.FROM_SNAPSHOT)
        assert_channel_live(dom, kind)
    if kind == "unix-auto":  # the image holds no path of a run (libvirt's migratable XML)
        dom.save(image)
        assert "path=" not in etree.tostring(
            etree.fromstring(conn.save_image_xml(image).encode()).find("devices/channel"),
            encoding="unicode")
        conn.restore_domain(image)
    dom.destroy()


def test_restore_after_a_disk_only_snapshot(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    dom = define(conn, guest, qroot.path, "unix-auto")
    dom.start()
    dom.create_snapshot("<domainsnapshot><name>ext</name></domainsnapshot>",
                        DomainSnapshotCreateFlags.DISK_ONLY)
    assert "<backingStore type='file'" in dom.xml()
    overlay = str(qroot.path / "vm1.ext")
    image = str(qroot.path / "vm1.save")
    for _ in range(2):
        dom.save(image)
        conn.restore_domain(image)
        assert_running(dom, DomainRunningReason.RESTORED)
        assert overlay in dom.xml()
    for _ in range(2):
        dom.managed_save()
        dom.start()
        assert_running(dom, DomainRunningReason.RESTORED)
        assert overlay in dom.xml()
    dom.destroy()
