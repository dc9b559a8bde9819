"""Secret events through the daemon (virConnectSecretEventRegisterAny over RPC), against
libvirtd's own secret driver: libvirt-python (Debian's /usr/bin/python3), virtkit's remote
client, Debian's ``virsh secret-event`` and ``virtkit secret-event`` watch virtkitd's and
libvirtd's ``qemu:///system`` while a virtkit client defines, sets and undefines secrets;
everyone must see the same events from both daemons."""

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
from virtkit.constants import SecretEventLifecycleType
from virtkit.errors import VirtError
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.testing.peers import start_virtkitd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import qemu_peers  # noqa: E402

pytestmark = [pytest.mark.timeout(240), pytest.mark.interop]

PYTHON3 = "/usr/bin/python3"
VIRSH = "/usr/bin/virsh"
KEPT = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"  # defined before anyone watches
MADE = "1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9"  # defined, given a value, undefined


def _secret_xml(uuid: str, volume: str) -> str:
    return (f"<secret ephemeral='no' private='no'><uuid>{uuid}</uuid>"
            f"<usage type='volume'><volume>{volume}</volume></usage></secret>")


# What everyone must see: lifecycle of every secret, value changes, KEPT's lifecycle only.
WANT = {"all": [[MADE, 0, 0], [MADE, 1, 0], [KEPT, 1, 0]], "value": [MADE], "kept": [[KEPT, 1, 0]]}

# libvirt-python: "URI SECONDS"; prints "ready" once registered, then what it saw as JSON.
_LISTENER = r"""
import json, sys, threading, time
import libvirt

libvirt.virEventRegisterDefaultImpl()

def loop():
    while True:
        libvirt.virEventRunDefaultImpl()

threading.Thread(target=loop, daemon=True).start()
conn = libvirt.open(sys.argv[1])
got = {"all": [], "value": [], "kept": []}
conn.secretEventRegisterAny(None, libvirt.VIR_SECRET_EVENT_ID_LIFECYCLE,
                            lambda c, s, e, d, o: got["all"].append([s.UUIDString(), e, d]), None)
conn.secretEventRegisterAny(None, libvirt.VIR_SECRET_EVENT_ID_VALUE_CHANGED,
                            lambda c, s, o: got["value"].append(s.UUIDString()), None)
conn.secretEventRegisterAny(conn.secretLookupByUUIDString(sys.argv[3]),
                            libvirt.VIR_SECRET_EVENT_ID_LIFECYCLE,
                            lambda c, s, e, d, o: got["kept"].append([s.UUIDString(), e, d]),
                            None)
print("ready", flush=True)
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline and len(got["all"]) < 3:
    time.sleep(0.02)
time.sleep(0.3)  # room for anything extra to show up
print(json.dumps(got), flush=True)
"""


@pytest.fixture(scope="module")
def daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, Path]]]:
    """name -> (qemu:///system URI, admin socket) of virtkitd and of libvirtd (QEMU and
    secret drivers)."""
    lv = qemu_peers.start_libvirtd_qemu(tmp_path_factory.mktemp("lv-secret"),
                                        extra_modules=("secret",))
    try:
        with start_virtkitd(tmp_path_factory.mktemp("vk-secret")) as vk:
            yield {
                "virtkitd": (vk.uri("unix", "/system", "qemu"),
                             vk.root / "run" / "libvirt" / "libvirt-admin-sock"),
                "libvirtd": (lv.uri, lv.root / "run" / "libvirt-admin-sock"),
            }
    finally:
        lv.stop()


def _wait_for(check: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _act(conn: virtkit.Connection) -> None:
    """MADE: defined, valued, undefined; then KEPT undefined."""
    made = conn.define_secret(_secret_xml(MADE, "/var/lib/h9-made.img"))
    made.set_value(b"s3cret")
    made.undefine()
    conn.lookup_secret_by_uuid(KEPT).undefine()


class _Seen:
    """virtkit's own registrations, shaped as the listener's."""

    def __init__(self, conn: virtkit.Connection) -> None:
        self.got: dict[str, list[Any]] = {"all": [], "value": [], "kept": []}
        self.types: list[type] = []

        def lifecycle(secret: virtkit.Secret, eid: int, event: Any, detail: int) -> None:
            self.types.append(type(event))
            self.got["all"].append([secret.uuid, event, detail])

        self.handles = [
            conn.on_secret_event(lifecycle),
            conn.on_secret_event(lambda s, eid: self.got["value"].append(s.uuid), event_id=1),
            conn.on_secret_event(lambda s, eid, ev, det: self.got["kept"].append(
                [s.uuid, ev, det]), secret=conn.lookup_secret_by_uuid(KEPT)),
        ]


@pytest.mark.parametrize("name", ["libvirtd", "virtkitd"])
def test_python_clients_see_the_same_events(daemons: dict[str, tuple[str, Path]],
                                            name: str) -> None:
    uri = daemons[name][0]
    with virtkit.open(uri) as conn:
        conn.define_secret(_secret_xml(KEPT, "/var/lib/h9-kept.img"))
        mine = _Seen(conn)
        peer = subprocess.Popen([PYTHON3, "-c", _LISTENER, uri, "30", KEPT],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert peer.stdout is not None
            assert peer.stdout.readline() == "ready\n", peer.stderr.read() if peer.stderr else ""
            _act(conn)
            out, err = peer.communicate(timeout=60)
            _wait_for(lambda: len(mine.got["all"]) >= 3, "virtkit's own events")
            time.sleep(0.2)
        finally:
            if peer.poll() is None:
                peer.kill()
                peer.wait()
        for h in mine.handles:
            h.cancel()
    assert peer.returncode == 0, err
    assert json.loads(out) == WANT
    assert mine.got == WANT
    assert set(mine.types) == {SecretEventLifecycleType}


def test_cancel_and_bad_event_ids_over_rpc(daemons: dict[str, tuple[str, Path]]) -> None:
    with virtkit.open(daemons["virtkitd"][0]) as conn:
        conn.define_secret(_secret_xml(KEPT, "/var/lib/h9-kept.img"))
        mine = _Seen(conn)
        kept: list[str] = []
        conn.on_secret_event(lambda s, *a: kept.append(s.uuid))
        for h in mine.handles:
            h.cancel()
        conn.define_secret(_secret_xml(MADE, "/var/lib/h9-made.img")).undefine()
        _wait_for(lambda: len(kept) == 2, "the events of the registration kept")
        time.sleep(0.2)
        assert mine.got == {"all": [], "value": [], "kept": []}
        conn.lookup_secret_by_uuid(KEPT).undefine()
        # past the public API's checks: the daemon's (remoteDispatchConnectSecretEvent...)
        drv: Any = conn.tables.secret
        with pytest.raises(VirtError) as info:
            drv.connect_secret_event_register_any(None, 7, lambda *a: None)
        assert (info.value.code, info.value.domain) == (ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC)
        assert "unsupported secret event ID 7" in info.value.message
        with pytest.raises(VirtError, match="not registered"):
            drv.connect_secret_event_deregister_any(12345)


def test_driver_without_secret_events_says_no_support(
        daemons: dict[str, tuple[str, Path]]) -> None:
    """virtkitd's test:///default has no secret events: NO_SUPPORT over the wire too."""
    uri = daemons["virtkitd"][0].replace("qemu+unix:///system", "test+unix:///default")
    with virtkit.open(uri) as conn, pytest.raises(VirtError) as info:
        conn.on_secret_event(lambda *a: None)
    assert info.value.code == ErrorCode.NO_SUPPORT
    assert "virConnectSecretEventRegisterAny" in info.value.message


# ---------------------------------------------------------------- the CLI against virsh

def _virtkit_argv() -> list[str]:
    script = Path(sys.executable).with_name("virtkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "virtkit.cli.main"]


def _clients(admin_sock: Path) -> int:
    with virtkit.admin.open(f"libvirtd:///system?socket={admin_sock}") as adm:
        return len(adm.lookup_server("libvirtd").list_clients())


_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: ", re.M)

CLI_CASES = [
    ("secret-event --event lifecycle --loop --timeout 4",
     f"event 'lifecycle' for secret {MADE}: Defined\n"
     f"event 'lifecycle' for secret {MADE}: Undefined\n"
     f"event 'lifecycle' for secret {KEPT}: Undefined\n"
     "event loop timed out\nevents received: 3\n\n", 0),
    ("secret-event --timestamp --event value-changed --loop --timeout 4",
     f"<T>event 'value-changed' for secret {MADE}\n"
     "event loop timed out\nevents received: 1\n\n", 0),
    (f"secret-event --secret {KEPT} --event lifecycle --loop --timeout 4",
     f"event 'lifecycle' for secret {KEPT}: Undefined\n"
     "event loop timed out\nevents received: 1\n\n", 0),
]


@pytest.mark.parametrize(("batch", "want", "want_rc"), CLI_CASES,
                         ids=["lifecycle", "value-changed", "one-secret"])
def test_cli_same_as_virsh(daemons: dict[str, tuple[str, Path]], batch: str, want: str,
                           want_rc: int) -> None:
    env = {"LC_ALL": "C", "LANG": "C", "TZ": "UTC", "PATH": "/usr/bin:/bin"}
    outs: dict[str, list[tuple[str, int]]] = {}
    for name, (uri, admin) in daemons.items():
        with virtkit.open(uri) as conn:
            conn.define_secret(_secret_xml(KEPT, "/var/lib/h9-kept.img"))
            before = _clients(admin)
            procs = [subprocess.Popen([*argv, "-c", uri, batch], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env, text=True)
                     for argv in ([VIRSH], _virtkit_argv())]
            try:
                _wait_for(lambda a=admin, n=before: _clients(a) >= n + 2,
                          "both watchers to connect")
                time.sleep(0.5)  # connected: registering takes a round trip or two more
                _act(conn)
                outs[name] = [(p.communicate(timeout=60)[0], p.returncode) for p in procs]
            finally:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
                        p.wait()
    for name, results in outs.items():
        for out, rc in results:
            assert (_STAMP.sub("<T>", out), rc) == (want, want_rc), (name, out)
