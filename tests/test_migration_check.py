"""The migration pre-check (virtkit.migration_check, ``Domain.migrate_check``,
``virtkit migrate --dry-run``) against real nodes: two virtkitd on loopback (their own
roots: two hosts), and Debian's libvirtd 9.0 (QEMU, network, storage and node device
drivers) as the destination in a network namespace (virtkit.testing.twohosts).

Each blocker is provoked for real (a snapshot, a name or UUID taken on the destination, an
unknown machine type, emulator, network, bridge, a disk the destination cannot see ...);
together they are all listed at once. Then every provocation is checked against the real
migration: the pre-check must report the error code that stock libvirt-python's
``migrate3`` (what ``virsh migrate`` calls) then fails with, and ``virsh migrate`` itself
must fail."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid as uuidlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "drivers" / "qemu"))
sys.path.insert(0, str(REPO / "bench"))

from qemu_e2e import (  # type: ignore[import-not-found]  # noqa: E402
    console_log,
    domain_xml,
    kill_pid,
    qemu_pids,
    tg,
    wait_marker,
    wait_until,
)

import virtkit  # noqa: E402
from virtkit.constants import DomainMigrateFlags as F  # noqa: E402
from virtkit.errtables import ErrorCode  # noqa: E402
from virtkit.testing.peers import Daemon, start_virtkitd  # noqa: E402
from virtkit.testing.twohosts import TwoHosts  # noqa: E402

pytestmark = pytest.mark.slow

VIRTKIT = [sys.executable, "-m", "virtkit.cli.main"]
LIVE = int(F.LIVE)


@pytest.fixture(scope="module")
def guest() -> Any:
    return tg.ensure_guest()


@dataclass
class Pair:
    """A source and a destination node, the shared directory, the address the
    destination's QEMU listens on."""

    src_uri: str
    dst_uri: str
    shared: Path
    dst_address: str
    src: Any = None  # virtkit connections
    dst: Any = None

    def open(self) -> Pair:
        self.src, self.dst = virtkit.open(self.src_uri), virtkit.open(self.dst_uri)
        return self


def _destroy_all(uri: str) -> None:
    done = subprocess.run(["virsh", "-c", uri, "list", "--name"], capture_output=True,
                          text=True, timeout=60)
    for name in done.stdout.split():
        subprocess.run(["virsh", "-c", uri, "destroy", name], capture_output=True, timeout=60)


@pytest.fixture
def virtkit_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two virtkitd (each its own root, so two hosts) on loopback."""
    base = Path(tmp_path_factory.mktemp("mc"))
    daemons: list[Daemon] = []
    try:
        for side in ("a", "b"):
            daemons.append(start_virtkitd(base / side))
        src_uri, dst_uri = (d.uri("unix", "/system", "qemu") for d in daemons)
        pair = Pair(src_uri, dst_uri, base / "shared", "127.0.0.1")
        pair.shared.mkdir()
        yield pair.open()
    finally:
        for d in daemons:
            _destroy_all(d.uri("unix", "/system", "qemu"))
            d.stop()
        left = qemu_pids(str(base))
        for pid in left:
            kill_pid(pid)
    assert not left, f"QEMU processes left running: {left}"


@pytest.fixture
def libvirtd_pair() -> Iterator[Pair]:
    """virtkitd in one namespace, libvirtd 9.0 (QEMU, network, storage, nodedev) in the
    other."""
    import qemu_peers  # type: ignore[import-not-found]

    h = TwoHosts()
    uris: list[str] = []
    try:
        h.a.start_virtkitd()
        uris.append(h.a.unix_uri())
        peer = qemu_peers.start_libvirtd_qemu(h.b.root / "libvirtd", netns=h.b.netns,
                                              extra_modules=("network", "storage", "nodedev"))
        h.b.extra.append(peer.reaper)
        uris.append(peer.uri)
        yield Pair(uris[0], uris[1], h.shared, h.b.address).open()
    finally:
        for uri in uris:
            _destroy_all(uri)
        h.close()
        left = [p for root in (h.a.root, h.b.root, h.shared) for p in qemu_pids(str(root))]
        for pid in left:
            kill_pid(pid)
    assert not left, f"QEMU processes left running: {left}"


def _boot(pair: Pair, guest: Any, name: str = "vm1", **kw: Any) -> Any:
    dom = pair.src.define_domain(domain_xml(guest, pair.shared, name, **kw))
    dom.start()
    wait_marker(console_log(pair.shared, name), guest.READY_MARKER, timeout=60)
    return dom


def _shared_pool(conn: Any, path: Path) -> None:
    """A dir pool on ``path``: how a node says "this directory is shared storage"."""
    pool = conn.define_storage_pool(f"<pool type='dir'><name>shared</name><target><path>"
                                    f"{path}</path></target></pool>")
    pool.start()


# ---------------------------------------------------------------- provocations

_DEVICES = "<devices>"


def _add_device(xml: str, device: str) -> str:
    return xml.replace(_DEVICES, _DEVICES + device, 1)


@dataclass
class Case:
    """One provocation: the flags and parameters of the migration, a set-up on the
    destination (and its undoing)."""

    name: str
    flags: int = LIVE
    edit: Callable[[str], str] | None = None  # of the XML the destination receives
    setup: Callable[[Pair, Any], Callable[[], None]] | None = None


def _name_taken(pair: Pair, dom: Any) -> Callable[[], None]:
    other = pair.dst.define_domain(f"<domain type='qemu'><name>{dom.name}</name><memory>65536"
                                   "</memory><os><type>hvm</type></os></domain>")
    undefine: Callable[[], None] = other.undefine
    return undefine


def _uuid_taken(pair: Pair, dom: Any) -> Callable[[], None]:
    other = pair.dst.define_domain(f"<domain type='qemu'><name>other</name><uuid>{dom.uuid}"
                                   "</uuid><memory>65536</memory><os><type>hvm</type></os>"
                                   "</domain>")
    undefine: Callable[[], None] = other.undefine
    return undefine


def _network_defined_not_started(pair: Pair, dom: Any) -> Callable[[], None]:
    net = pair.dst.define_network("<network><name>vkidle</name><bridge name='vkidle0'/>"
                                  "</network>")
    undefine: Callable[[], None] = net.undefine
    return undefine


CASES = [
    Case("machine", edit=lambda x: re.sub(r"machine='[^']*'", "machine='pc-q35-99.0'", x)),
    Case("emulator", edit=lambda x: re.sub(r"<emulator>[^<]*</emulator>",
                                           "<emulator>/nonexistent/qemu-system-x86_64"
                                           "</emulator>", x)),
    Case("network", edit=lambda x: _add_device(
        x, "<interface type='network'><source network='vknonet'/></interface>")),
    Case("network-inactive", edit=lambda x: _add_device(
        x, "<interface type='network'><source network='vkidle'/></interface>"),
         setup=_network_defined_not_started),
    Case("bridge", edit=lambda x: _add_device(
        x, "<interface type='bridge'><source bridge='vknobr0'/></interface>")),
    Case("disk", edit=lambda x: _add_device(
        x, "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source "
           "file='/nonexistent/vk/disk.img'/><target dev='vdb' bus='virtio'/></disk>")),
    Case("name-taken", setup=_name_taken),
    Case("uuid-taken", setup=_uuid_taken),
    Case("offline-not-persistent", flags=int(F.OFFLINE)),
    # the guest's disk copied to a directory no pool of the destination holds
    Case("copy-storage-no-pool", flags=int(F.LIVE | F.NON_SHARED_DISK),
         edit=lambda x: re.sub(r"file='[^']*/vm1.qcow2'", "file='/nonexistent/vkcopy/vm1.qcow2'",
                               x)),
]


def _params(pair: Pair, dom: Any, case: Case) -> dict[str, Any]:
    params: dict[str, Any] = {"migrate_uri": f"tcp://{pair.dst_address}"}
    if case.edit is not None:
        params["destination_xml"] = case.edit(dom.xml(1 | 8))  # SECURE | MIGRATABLE
    return params


def real_migration(pair: Pair, name: str, flags: int,
                   params: dict[str, Any]) -> tuple[int, str] | None:
    """libvirt-python's migrate3 (stock libvirt's client, virsh's call): the error's code
    and message, None when it migrated."""
    code = f"""
import json, sys, libvirt
s, d = libvirt.open({pair.src_uri!r}), libvirt.open({pair.dst_uri!r})
try:
    s.lookupByName({name!r}).migrate3(d, json.loads(sys.argv[1]), {flags})
except libvirt.libvirtError as e:
    print(json.dumps([e.get_error_code(), e.get_error_message()]))
else:
    print("null")
"""
    done = subprocess.run(["/usr/bin/python3", "-c", code, json.dumps(params)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    return None if answer is None else (int(answer[0]), str(answer[1]))


def virsh_migrate(pair: Pair, name: str, case: Case, params: dict[str, Any],
                  tmp: Path) -> subprocess.CompletedProcess[str]:
    args = ["virsh", "-c", pair.src_uri, "migrate", name, pair.dst_uri,
            "--migrateuri", params["migrate_uri"]]
    if case.flags & F.LIVE:
        args.append("--live")
    if case.flags & F.OFFLINE:
        args.append("--offline")
    if case.flags & F.NON_SHARED_DISK:
        args.append("--copy-storage-all")
    if "destination_xml" in params:
        xml = tmp / f"{case.name}.xml"
        xml.write_text(params["destination_xml"])
        args += ["--xml", str(xml)]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


# ---------------------------------------------------------------- virtkitd -> virtkitd


def test_clean_guest_no_blocker_and_it_migrates(virtkit_pair: Pair, guest: Any) -> None:
    pair = virtkit_pair
    dom = _boot(pair, guest)
    assert dom.migrate_check(pair.dst, LIVE, {"migrate_uri": "tcp://127.0.0.1"}) == []
    done = subprocess.run([*VIRTKIT, "-c", pair.src_uri, "migrate", "--dry-run", "--live",
                           "vm1", pair.dst_uri], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "no blocker found"), done.stderr
    assert dom.is_active()  # nothing moved
    moved = dom.migrate(pair.dst, LIVE, {"migrate_uri": "tcp://127.0.0.1"})
    assert moved.is_active()


def test_every_blocker_listed_at_once(virtkit_pair: Pair, guest: Any, tmp_path: Path) -> None:
    pair = virtkit_pair
    disk = pair.shared / "vm1.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    dom = _boot(pair, guest, disk=disk)
    _shared_pool(pair.dst, pair.shared)
    assert dom.migrate_check(pair.dst, LIVE, {}) == []  # the pool makes the disk shared
    dom.create_snapshot("<domainsnapshot><name>s1</name></domainsnapshot>", 16)  # DISK_ONLY
    _name_taken(pair, dom)
    xml = dom.xml(1 | 8)
    for case in CASES:
        if case.edit is not None and case.name != "network-inactive":
            xml = case.edit(xml)
    blockers = dom.migrate_check(pair.dst, LIVE, {"destination_xml": xml})
    got = {(b.where, b.code_name) for b in blockers}
    assert got == {
        ("source", "VIR_ERR_OPERATION_INVALID"),  # the snapshot
        ("destination", "VIR_ERR_OPERATION_FAILED"),  # the name
        ("destination", "VIR_ERR_SYSTEM_ERROR"),  # emulator, bridge, disk
        ("destination", "VIR_ERR_NO_NETWORK"),
    }, blockers
    messages = "\n".join(b.message for b in blockers)
    for part in ("cannot migrate domain with 1 snapshots", "domain 'vm1' already exists",
                 "Cannot check QEMU binary /nonexistent/qemu-system-x86_64",
                 "no network with matching name 'vknonet'",
                 "Cannot get interface MTU on 'vknobr0'",
                 "Cannot access storage file '/nonexistent/vk/disk.img'"):
        assert part in messages, messages
    assert dom.is_active() and len(dom.list_snapshots()) == 1  # nothing moved or changed
    # the unknown machine shows once the emulator is the destination's again
    xml2 = CASES[0].edit(dom.xml(1 | 8)) if CASES[0].edit else ""
    machine = dom.migrate_check(pair.dst, LIVE, {"destination_xml": xml2})
    assert any(b.code == ErrorCode.CONFIG_UNSUPPORTED and "machine type 'pc-q35-99.0'"
               in b.message for b in machine), machine
    # the CLI: one line per blocker, exit 1; --json
    path = tmp_path / "dest.xml"
    path.write_text(xml)
    done = subprocess.run([*VIRTKIT, "-c", pair.src_uri, "migrate", "--dry-run", "--live",
                           "--xml", str(path), "vm1", pair.dst_uri], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stdout.strip().splitlines() == [str(b) for b in blockers]
    done = subprocess.run([*VIRTKIT, "-c", pair.src_uri, "migrate", "--dry-run", "--json",
                           "--live", "--xml", str(path), "vm1", pair.dst_uri],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert json.loads(done.stdout) == [b.to_dict() for b in blockers]


def test_source_side_rules(virtkit_pair: Pair, guest: Any) -> None:
    pair = virtkit_pair
    off = pair.src.define_domain(domain_xml(guest, pair.shared, "off"))
    got = off.migrate_check(pair.dst, LIVE, {})
    assert [b.message for b in got] == ["Requested operation is not valid: domain is not "
                                        "running"]
    got = off.migrate_check(pair.dst, int(F.OFFLINE | F.NON_SHARED_DISK), {})
    assert {b.message.split(": ", 1)[1] for b in got} >= {
        "offline migration cannot handle non-shared storage",
        "offline migration must be specified with the persistent flag set"}
    assert off.migrate_check(pair.dst, int(F.OFFLINE | F.PERSIST_DEST), {}) == []
    broken = off.migrate_check(pair.dst, int(F.OFFLINE | F.PERSIST_DEST),
                               {"destination_xml": "<domain"})
    assert [b.code for b in broken if b.where == "destination"] == [ErrorCode.XML_ERROR]
    # a migration job running: another one is refused
    dom = _boot(pair, guest)
    dom.migrate_set_max_speed(1)
    runner = subprocess.Popen(["virsh", "-c", pair.src_uri, "migrate", "--live", "vm1",
                               pair.dst_uri, "--migrateuri", "tcp://127.0.0.1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: dom.job_info().data_processed > 0, 60, "the stream to start")
        busy = dom.migrate_check(pair.dst, LIVE, {})
        assert any("another migration job is already running for domain 'vm1'" in b.message
                   for b in busy), busy
        dom.abort_job()
        runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)


def test_each_blocker_makes_the_real_migration_fail(virtkit_pair: Pair, guest: Any,
                                                    tmp_path: Path) -> None:
    """virtkitd to virtkitd: whatever the pre-check reports, ``virsh migrate`` fails."""
    pair = virtkit_pair
    dom = _boot_with_disk(pair, guest)
    for case in CASES:
        params = _params(pair, dom, case)
        undo = case.setup(pair, dom) if case.setup else None
        try:
            blockers = dom.migrate_check(pair.dst, case.flags, params)
            assert blockers, f"{case.name}: no blocker found"
            done = virsh_migrate(pair, "vm1", case, params, tmp_path)
            assert done.returncode == 1, f"{case.name}: migrated: {blockers}"
        finally:
            if undo is not None:
                undo()
        assert dom.is_active(), case.name
    _snapshot_case(pair, dom, lambda params: virsh_migrate(
        pair, "vm1", Case("snapshot"), params, tmp_path).returncode == 1)


def _boot_with_disk(pair: Pair, guest: Any) -> Any:
    """The guest with a qcow2 disk in the shared directory, a pool there on the
    destination (shared storage)."""
    disk = pair.shared / "vm1.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    dom = _boot(pair, guest, disk=disk)
    _shared_pool(pair.dst, pair.shared)
    return dom


def _snapshot_case(pair: Pair, dom: Any, fails: Callable[[dict[str, Any]], bool]) -> None:
    """The last provocation (it stays): a snapshot on the source."""
    params = {"migrate_uri": f"tcp://{pair.dst_address}"}
    assert dom.migrate_check(pair.dst, LIVE, params) == []
    dom.create_snapshot("<domainsnapshot><name>s1</name></domainsnapshot>", 16)  # DISK_ONLY
    blockers = dom.migrate_check(pair.dst, LIVE, params)
    assert [b.message for b in blockers] == [
        "Requested operation is not valid: cannot migrate domain with 1 snapshots"]
    assert fails(params)


# ---------------------------------------------------------------- libvirtd 9.0


def test_libvirtd_destination_same_blockers_same_codes(libvirtd_pair: Pair, guest: Any,
                                                       tmp_path: Path) -> None:
    """Debian's libvirtd as the destination: each provocation's blockers carry the code
    its real migration (libvirt-python migrate3) fails with; all at once, the same
    blockers as a virtkitd destination reports."""
    pair = libvirtd_pair
    dom = _boot_with_disk(pair, guest)
    assert dom.migrate_check(pair.dst, LIVE, _params(pair, dom, Case("clean"))) == []
    for case in CASES:
        params = _params(pair, dom, case)
        undo = case.setup(pair, dom) if case.setup else None
        try:
            blockers = dom.migrate_check(pair.dst, case.flags, params)
            real = real_migration(pair, "vm1", case.flags, params)
            assert real is not None, f"{case.name}: migrated, blockers {blockers}"
            # libvirt's code, and its message (the disk's names the reason after it)
            assert any(b.code == real[0] and (b.message == real[1] or b.message.startswith(
                real[1].split(": ")[0] + ":")) for b in blockers), (case.name, real, blockers)
            assert virsh_migrate(pair, "vm1", case, params, tmp_path).returncode == 1
        finally:
            if undo is not None:
                undo()
        assert dom.is_active(), case.name
    # all at once, as test_every_blocker_listed_at_once reports them
    undo = _name_taken(pair, dom)
    xml = dom.xml(1 | 8)
    for case in CASES:
        if case.edit is not None and case.name != "network-inactive":
            xml = case.edit(xml)
    got = {(b.where, b.code_name) for b in dom.migrate_check(pair.dst, LIVE,
                                                             {"destination_xml": xml})}
    undo()
    assert got == {("destination", "VIR_ERR_OPERATION_FAILED"),
                   ("destination", "VIR_ERR_SYSTEM_ERROR"),
                   ("destination", "VIR_ERR_NO_NETWORK")}
    _snapshot_case(pair, dom, lambda params: real_migration(pair, "vm1", LIVE, params)
                   == (int(ErrorCode.OPERATION_INVALID),
                       "Requested operation is not valid: cannot migrate domain with 1 "
                       "snapshots"))


def test_same_host_between_two_libvirtd(guest: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two libvirtd given one host UUID (``host_uuid`` in libvirtd.conf, as two daemons
    of one machine): libvirt's cookie check refuses the migration, and the pre-check
    (libvirtd as both sides) says so first."""
    import qemu_peers

    conf = qemu_peers._libvirtd_conf
    same = str(uuidlib.uuid4())
    monkeypatch.setattr(qemu_peers, "_libvirtd_conf",
                        lambda sock_dir: conf(sock_dir) + f'host_uuid = "{same}"\n')
    h = TwoHosts()
    uris: list[str] = []
    try:
        for host in (h.a, h.b):
            peer = qemu_peers.start_libvirtd_qemu(host.root / "libvirtd", netns=host.netns)
            host.extra.append(peer.reaper)
            uris.append(peer.uri)
        pair = Pair(uris[0], uris[1], h.shared, h.b.address).open()
        dom = _boot(pair, guest)
        params = {"migrate_uri": f"tcp://{pair.dst_address}"}
        blockers = dom.migrate_check(pair.dst, LIVE, params)
        assert [(b.code, b.where) for b in blockers] == [
            (ErrorCode.INTERNAL_ERROR, "destination")], blockers
        real = real_migration(pair, "vm1", LIVE, params)
        assert real == (blockers[0].code, blockers[0].message)
        assert real[1] == f"internal error: Attempt to migrate guest to the same host {same}"
    finally:
        for uri in uris:
            _destroy_all(uri)
        h.close()
        left = [p for root in (h.a.root, h.b.root, h.shared) for p in qemu_pids(str(root))]
        for pid in left:
            kill_pid(pid)
    assert not left, f"QEMU processes left running: {left}"
