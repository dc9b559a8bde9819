"""Node device events through virtkitd: libvirt-python (Debian's /usr/bin/python3) and
virtkit's remote client register on the daemon and see the vHBA that the other one creates
and destroys (CREATED / DELETED); ``virtkit nodedev-event`` and Debian's ``virsh
nodedev-event`` watch the same daemon and must print the same lines."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import virtkit
import virtkit.admin
from virtkit.daemon.access import AccessControl, parse_policy
from virtkit.daemon.guard import CallGuard
from virtkit.errors import VirtError
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.testing.peers import Daemon, start_libvirtd, start_virtkitd
from virtkit.types import NodeDeviceIdent

pytestmark = [pytest.mark.timeout(120), pytest.mark.interop]

PYTHON3 = "/usr/bin/python3"
VIRSH = "/usr/bin/virsh"
VHBA = ("<device><parent>scsi_host1</parent><capability type='scsi_host'>"
        "<capability type='fc_host'><wwnn>2001001b32a9da4e</wwnn>"
        "<wwpn>2101001b32a9da4e</wwpn></capability></capability></device>")
CREATED_DELETED = [["scsi_host12", 0, 0], ["scsi_host12", 1, 0]]

# libvirt-python: "listen URI SECONDS" (prints "ready", then the events seen as JSON) or
# "act URI" (creates, then destroys the vHBA).
_PEER = r"""
import json, sys, threading, time
import libvirt

mode, uri = sys.argv[1], sys.argv[2]
libvirt.virEventRegisterDefaultImpl()

def loop():
    while True:
        libvirt.virEventRunDefaultImpl()

threading.Thread(target=loop, daemon=True).start()
conn = libvirt.open(uri)
if mode == "act":
    conn.nodeDeviceCreateXML(sys.argv[3], 0).destroy()
    sys.exit(0)
got = {"all": [], "computer": [], "update": []}
conn.nodeDeviceEventRegisterAny(
    None, libvirt.VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE,
    lambda c, d, e, det, o: got["all"].append([d.name(), e, det]), None)
conn.nodeDeviceEventRegisterAny(
    conn.nodeDeviceLookupByName("computer"), libvirt.VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE,
    lambda c, d, e, det, o: got["computer"].append([d.name(), e, det]), None)
conn.nodeDeviceEventRegisterAny(
    None, libvirt.VIR_NODE_DEVICE_EVENT_ID_UPDATE,
    lambda c, d, o: got["update"].append(d.name()), None)
print("ready", flush=True)
deadline = time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline and len(got["all"]) < 2:
    time.sleep(0.02)
time.sleep(0.3)  # room for anything extra to show up
print(json.dumps(got), flush=True)
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_virtkitd(tmp_path_factory.mktemp("nodedev-events")) as d:
        yield d


def _wait_for(check: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class _Seen:
    """virtkit-side callbacks: the lifecycle events, the device-filtered ones, UPDATE."""

    def __init__(self, conn: virtkit.Connection) -> None:
        self.all: list[list[Any]] = []
        self.computer: list[list[Any]] = []
        self.update: list[str] = []
        self.handles = [
            conn.on_node_device_event(lambda d, eid, ev, det: self.all.append([d.name, ev, det])),
            conn.on_node_device_event(
                lambda d, eid, ev, det: self.computer.append([d.name, ev, det]),
                device=conn.lookup_node_device("computer")),
            conn.on_node_device_event(lambda d, eid: self.update.append(d.name), event_id=1),
        ]


def test_virtkit_client_acts_libvirt_python_sees(daemon: Daemon) -> None:
    uri = daemon.uri("unix")
    peer = subprocess.Popen([PYTHON3, "-c", _PEER, "listen", uri, "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert peer.stdout is not None
        assert peer.stdout.readline() == "ready\n", peer.stderr.read() if peer.stderr else ""
        with virtkit.open(uri) as conn:
            mine = _Seen(conn)
            dev = conn.create_node_device(VHBA)
            assert dev.name == "scsi_host12"
            dev.destroy()
            out, err = peer.communicate(timeout=30)
            _wait_for(lambda: len(mine.all) >= 2, "virtkit's own events")
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait()
    assert peer.returncode == 0, err
    assert json.loads(out) == {"all": CREATED_DELETED, "computer": [], "update": []}
    assert mine.all == CREATED_DELETED
    assert (mine.computer, mine.update) == ([], [])
    # the enum, as locally
    assert [type(e).__name__ for _, e, _ in mine.all] == ["NodeDeviceEventLifecycleType"] * 2


def test_libvirt_python_acts_virtkit_client_sees(daemon: Daemon) -> None:
    uri = daemon.uri("unix")
    with virtkit.open(uri) as conn:
        mine = _Seen(conn)
        subprocess.run([PYTHON3, "-c", _PEER, "act", uri, VHBA], check=True, timeout=60,
                       capture_output=True)
        _wait_for(lambda: len(mine.all) >= 2, "the events of libvirt-python's changes")
        time.sleep(0.2)
        assert mine.all == CREATED_DELETED
        assert (mine.computer, mine.update) == ([], [])


def test_cancel_and_bad_event_ids_over_rpc(daemon: Daemon) -> None:
    with virtkit.open(daemon.uri("unix")) as conn:
        mine = _Seen(conn)
        kept: list[str] = []
        conn.on_node_device_event(lambda d, *a: kept.append(d.name))
        for h in mine.handles:
            h.cancel()
        conn.create_node_device(VHBA).destroy()
        _wait_for(lambda: len(kept) == 2, "the events of the registration kept")
        time.sleep(0.2)
        assert (mine.all, mine.computer, mine.update) == ([], [], [])
        # the public API's own checks (libvirt-nodedev.c)
        with pytest.raises(VirtError) as info:
            conn.on_node_device_event(lambda *a: None, event_id=2)
        assert (info.value.code, info.value.domain, info.value.message) == (
            ErrorCode.INVALID_ARG, ErrorDomain.NODEDEV,
            "eventID in virConnectNodeDeviceEventRegisterAny must be less than 2")
        with pytest.raises(VirtError, match="must be zero or greater"):
            conn.on_node_device_event(lambda *a: None, event_id=-1)
        # past the API: the daemon's check (remoteDispatchConnectNodeDeviceEventRegisterAny)
        drv = conn.tables.nodedev
        with pytest.raises(VirtError) as info:
            drv.connect_node_device_event_register_any(None, 7, lambda *a: None)
        assert (info.value.code, info.value.domain) == (ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC)
        assert "unsupported node device event ID 7" in info.value.message
        with pytest.raises(VirtError, match="not registered"):
            drv.connect_node_device_event_deregister_any(12345)


def test_virtkit_client_on_libvirtd(tmp_path: Path) -> None:
    """The client side against the reference: Debian's libvirtd sends the events."""
    with start_libvirtd(tmp_path) as lv, virtkit.open(lv.uri("unix")) as conn:
        mine = _Seen(conn)
        conn.create_node_device(VHBA).destroy()
        _wait_for(lambda: len(mine.all) >= 2, "libvirtd's events")
        time.sleep(0.2)
        assert mine.all == CREATED_DELETED
        assert (mine.computer, mine.update) == ([], [])
        for h in mine.handles:
            h.cancel()


def test_events_follow_the_registration_aclfilter() -> None:
    class FakeSession:
        identity = {"user-name": "alice", "unix-user-id": "1001", "unix-group-id": "1001"}

    policy = parse_policy("""
        [[rules]]
        effect = "allow"
        users = ["alice"]
        permissions = ["node_device.getattr"]
        objects = ["scsi_host1*"]
    """)
    guard = CallGuard(AccessControl(policy), None)
    sess: Any = FakeSession()
    assert guard.event_visible(sess, "nodedev", NodeDeviceIdent("scsi_host12"))
    assert not guard.event_visible(sess, "nodedev", NodeDeviceIdent("computer"))


@pytest.mark.parametrize(("hidden", "seen"), [("scsi_host12", []), ("net_*", CREATED_DELETED)])
def test_daemon_filters_events_by_policy(tmp_path: Path, hidden: str,
                                         seen: list[list[Any]]) -> None:
    (tmp_path / "etc" / "libvirt").mkdir(parents=True)
    (tmp_path / "etc" / "libvirt" / "policy.toml").write_text(
        'default = "allow"\n[[rules]]\neffect = "deny"\nusers = ["root"]\n'
        f'permissions = ["node_device.getattr"]\nobjects = ["{hidden}"]\n')
    conf = 'access_drivers = ["virtkit"]\naccess_policy_file = "/etc/libvirt/policy.toml"\n'
    with start_virtkitd(tmp_path, extra_conf=conf) as d, virtkit.open(d.uri("unix")) as conn:
        got: list[list[Any]] = []
        conn.on_node_device_event(lambda dev, eid, ev, det: got.append([dev.name, ev, det]))
        probe: list[str] = []
        conn.on_storage_pool_event(lambda p, *a: probe.append(p.name), event_id=1)
        # create_node_device's handle needs no lookup, so destroy is not denied either
        conn.create_node_device(VHBA).destroy()
        # a later event from the same daemon: by then the node device ones were sent or not
        conn.lookup_storage_pool("default-pool").refresh()
        _wait_for(lambda: probe, "the pool probe event")
        time.sleep(0.1)
        assert got == seen


# ---------------------------------------------------------------- the CLI against virsh

def _virtkit_argv() -> list[str]:
    script = Path(sys.executable).with_name("virtkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "virtkit.cli.main"]


def _clients(daemon: Daemon) -> int:
    sock = daemon.root / "run" / "libvirt" / "libvirt-admin-sock"
    with virtkit.admin.open(f"libvirtd:///system?socket={sock}") as adm:
        return len(adm.lookup_server("libvirtd").list_clients())


_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: ", re.M)

CLI_CASES = [
    ("nodedev-event --event lifecycle --loop --timeout 4",
     "event 'lifecycle' for node device scsi_host12: Created\n"
     "event 'lifecycle' for node device scsi_host12: Deleted\n"
     "event loop timed out\nevents received: 2\n\n", 0),
    ("nodedev-event --event lifecycle --timeout 30",
     "event 'lifecycle' for node device scsi_host12: Created\nevents received: 1\n\n", 0),
    ("nodedev-event --timestamp --event lifecycle --loop --timeout 4",
     "<T>event 'lifecycle' for node device scsi_host12: Created\n"
     "<T>event 'lifecycle' for node device scsi_host12: Deleted\n"
     "event loop timed out\nevents received: 2\n\n", 0),
    ("nodedev-event --device computer --event lifecycle --loop --timeout 4",
     "event loop timed out\nevents received: 0\n\n", 1),
    ("nodedev-event --event update --timeout 4",
     "event loop timed out\nevents received: 0\n\n", 1),
]


@pytest.mark.parametrize(("batch", "want", "want_rc"), CLI_CASES,
                         ids=[c[0][14:40] for c in CLI_CASES])
def test_cli_same_as_virsh(daemon: Daemon, batch: str, want: str, want_rc: int) -> None:
    uri = daemon.uri("unix")
    env = {"LC_ALL": "C", "LANG": "C", "TZ": "UTC", "PATH": "/usr/bin:/bin"}
    with virtkit.open(uri) as conn:
        before = _clients(daemon)
        procs = [subprocess.Popen([*argv, "-c", uri, batch], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                  text=True)
                 for argv in ([VIRSH], _virtkit_argv())]
        try:
            _wait_for(lambda: _clients(daemon) >= before + 2, "both watchers to connect")
            time.sleep(0.5)  # connected: registering takes a round trip or two more
            device = conn.create_node_device(VHBA)
            if "--loop" not in batch:
                # a watcher that stops at its first event is left to exit before the
                # second comes: otherwise virsh's own client may still hold that event's
                # device while it disconnects ("references were leaked"), a virsh race
                outs = [p.communicate(timeout=60)[0] for p in procs]
                device.destroy()
            else:
                device.destroy()
                outs = [p.communicate(timeout=60)[0] for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    (virsh_out, ours), rcs = outs, [p.returncode for p in procs]
    assert _STAMP.sub("<T>", virsh_out) == want, virsh_out
    assert _STAMP.sub("<T>", ours) == _STAMP.sub("<T>", virsh_out)
    assert rcs == [want_rc, want_rc]
